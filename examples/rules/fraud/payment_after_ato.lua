-- Payments by an account that an ATO rule just labelled "ato_suspect"
-- (ato.new_country_device, ato.credential_stuffing): an attacker who got in
-- spends the victim's stored card within minutes.  Block until the owner has
-- re-verified (the label lasts a day).
return {
  name = "fraud.payment_after_ato",
  version = 1,
  description = "payment by an account labelled ato_suspect",
  streams = { "payment" },
  mode = "enforce",
  fields = { "user.id", "payment.amount" },

  evaluate = function(ev, ctx)
    local user = ev.user
    if not (user and user.id) or not ctx.has_label(user.id, "ato_suspect") then return end
    local amount = ev.payment and ev.payment.amount
    return ctx.block{ entity = user.id, entity_type = "user", score = 0.95, ttl = "1d",
                      reason = type(amount) == "number"
                               and string.format("payment of %.2f after suspected takeover", amount)
                               or "payment after suspected takeover" }
  end,

  tests = {
    { name = "payment after a login from a new country and device is blocked",
      events = {
        { type = "login", user = { id = "u1", country = "US" },
          login = { ip = "81.2.3.4", success = true, new_device = true, geo = { country = "GB" } } },
        { user = { id = "u1" }, payment = { amount = 450.00 } },
      },
      expect = { { verdict = "block", entity = "u1", reason = "payment of 450.00 after suspected takeover" } } },
    { name = "payment after an ordinary login passes",
      events = {
        { type = "login", user = { id = "u1", country = "US" },
          login = { ip = "24.2.3.4", success = true, new_device = false, geo = { country = "US" } } },
        { user = { id = "u1" }, payment = { amount = 450.00 } },
      },
      expect = {} },
    { name = "the label expires after a day",
      events = {
        { type = "login", ts = "2026-11-20T10:00:00Z", user = { id = "u1", country = "US" },
          login = { ip = "81.2.3.4", success = true, new_device = true, geo = { country = "GB" } } },
        { ts = "2026-11-21T10:00:01Z", user = { id = "u1" }, payment = { amount = 20.00 } },
      },
      expect = {} },
  },
}
