-- A card from a high-risk BIN issued in another country than the account's.
-- Either alone is common (travel, expats); together they carry most of the
-- chargebacks in the payments team's data.  Shadow while the BIN list is
-- being tuned.
local function pay(user, country, bin, card_country)
  return { user = { id = user, country = country },
           payment = { amount = 25.00, card_bin = bin, card_country = card_country } }
end

return {
  name = "fraud.high_risk_bin",
  version = 1,
  description = "high-risk card BIN issued outside the account's country",
  streams = { "payment" },
  mode = "shadow",
  fields = { "user.id", "user.country", "payment.card_bin", "payment.card_country" },

  evaluate = function(ev, ctx)
    local user, payment = ev.user, ev.payment
    if not (user and user.id and payment) then return end
    local bin, cc = payment.card_bin, payment.card_country
    if type(bin) ~= "string" or type(cc) ~= "string" or cc == user.country then return end
    if ctx.in_list("high_risk_bins", bin) then
      return ctx.review{ entity = user.id, entity_type = "user", score = 0.6,
                         reason = "high-risk BIN " .. bin .. " from " .. cc }
    end
  end,

  tests = {
    { name = "high-risk BIN from abroad goes to review",
      events = { pay("u1", "US", "510805", "BR") },
      expect = { { verdict = "review", entity = "u1", reason = "high-risk BIN 510805 from BR" } } },
    { name = "high-risk BIN at home, or ordinary BIN abroad, pass",
      events = { pay("u1", "US", "510805", "US"), pay("u1", "US", "411773", "BR") },
      expect = {} },
    { name = "missing card data passes",
      events = { { user = { id = "u1", country = "US" }, payment = { amount = 3 } } },
      expect = {} },
  },
}
