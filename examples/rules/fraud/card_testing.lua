-- Card testing: checking stolen card numbers with tiny charges before
-- selling or using them.  Ordinary accounts in the sample pay a few times a
-- day with one card; testers make 20-35 payments under $3 in half an hour,
-- each with a different card.  A payment under 5 when the account made 10+
-- payments on 4+ distinct cards in the last hour is blocked and the account
-- labelled "card_tester" for a week; any later payment of a labelled account
-- (the cash-out) is blocked too.
local SMALL_AMOUNT = 5
local MIN_PAYMENTS = 10
local MIN_CARDS = 4

local function payments(user, n, ncards, amount)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = user },
               payment = { amount = amount, currency = "USD",
                           card_bin = tostring(400000 + (i - 1) % ncards) } }
  end
  return evs
end

local function tested_then_cashout()
  local evs = payments("u1", 10, 10, 0.99)
  evs[#evs + 1] = { user = { id = "u1" }, payment = { amount = 899.00, card_bin = "400001" } }
  return evs
end

return {
  name = "fraud.card_testing",
  version = 2,
  description = "small payment after 10+ payments on 4+ cards in an hour; later payments of card testers",
  streams = { "payment" },
  mode = "enforce",
  fields = { "user.id", "payment.amount" },

  evaluate = function(ev, ctx)
    local user, payment = ev.user, ev.payment
    if not (user and user.id and payment) or type(payment.amount) ~= "number" then return end
    if ctx.has_label(user.id, "card_tester") then
      return ctx.block{ entity = user.id, entity_type = "user", reason = "payment by a card tester", score = 0.95, ttl = "7d" }
    end
    if payment.amount >= SMALL_AMOUNT then return end
    local n = ctx.count("payments_by_user", user.id, "1h")
    if n < MIN_PAYMENTS then return end
    local cards = ctx.distinct("card_bins_by_user", user.id, "1h")
    if cards < MIN_CARDS then return end
    ctx.label(user.id, "card_tester", "7d")
    return ctx.block{ entity = user.id, entity_type = "user", score = 0.95, ttl = "7d",
                      reason = string.format("card testing: %d payments on %.0f cards in 1h", n, cards) }
  end,

  tests = {
    { name = "ten small payments on many cards: blocked from the tenth on",
      events = payments("u1", 12, 8, 1.00),
      expect = { { verdict = "block", entity = "u1", reason = "card testing: 10 payments on 8 cards in 1h" },
                 { verdict = "block", entity = "u1", reason = "payment by a card tester" },
                 { verdict = "block", entity = "u1", reason = "payment by a card tester" } } },
    { name = "the cash-out after testing is blocked as well",
      events = tested_then_cashout(),
      expect = { { verdict = "block", entity = "u1", reason = "card testing: 10 payments on 10 cards in 1h" },
                 { verdict = "block", entity = "u1", reason = "payment by a card tester" } } },
    { name = "many small payments on one or two cards pass (subscriptions, tips)",
      events = payments("u2", 15, 2, 0.99), expect = {} },
    { name = "many cards but ordinary amounts pass (family account)",
      events = payments("u3", 12, 12, 49.00), expect = {} },
  },
}
