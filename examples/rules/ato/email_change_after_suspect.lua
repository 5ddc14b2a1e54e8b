-- The step after a takeover: the attacker changes the account's email so the
-- owner cannot recover it.  An email change on an account labelled
-- "ato_suspect" is blocked; more confidently when the new address is at a
-- disposable-mail provider.
return {
  name = "ato.email_change_after_suspect",
  version = 1,
  description = "email change on an account labelled ato_suspect",
  streams = { "account_update" },
  mode = "enforce",
  fields = { "user.id", "account.change", "account.new_email_domain" },

  evaluate = function(ev, ctx)
    local user, account = ev.user, ev.account
    if not (user and user.id and account) or account.change ~= "email" then return end
    if not ctx.has_label(user.id, "ato_suspect") then return end
    local domain = account.new_email_domain
    if type(domain) == "string" and ctx.in_list("disposable_email", string.lower(domain)) then
      return ctx.block{ entity = user.id, entity_type = "user", score = 0.98, ttl = "7d",
                        reason = "email changed to disposable " .. domain .. " after suspected takeover" }
    end
    return ctx.block{ entity = user.id, entity_type = "user", score = 0.85, ttl = "7d", reason = "email changed after suspected takeover" }
  end,

  tests = {
    { name = "email change after a suspicious login is blocked",
      events = {
        { type = "login", user = { id = "u1", country = "US" },
          login = { ip = "81.2.3.4", success = true, new_device = true, geo = { country = "GB" } } },
        { user = { id = "u1" }, account = { change = "email", new_email_domain = "yopmail.com" } },
      },
      expect = { { verdict = "block", entity = "u1", score = 0.98 } } },
    { name = "ordinary email and password changes pass",
      events = {
        { user = { id = "u1" }, account = { change = "email", new_email_domain = "yopmail.com" } },
        { type = "login", user = { id = "u1", country = "US" },
          login = { ip = "81.2.3.4", success = true, new_device = true, geo = { country = "GB" } } },
        { user = { id = "u1" }, account = { change = "password" } },
      },
      expect = {} },
  },
}
