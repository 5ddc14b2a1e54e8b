-- A big payment from an account less than three days old.  Real new users
-- start small; in the sample, only card testers cashing out spend 500+ in
-- their first days.  Shadow: big-ticket first purchases do happen.
local MAX_AGE_DAYS = 3
local BIG_AMOUNT = 500

local function pay(user, age, amount)
  return { user = { id = user, age_days = age }, payment = { amount = amount } }
end

return {
  name = "fraud.new_account_big_spend",
  version = 1,
  description = "payment of 500 or more from an account under three days old",
  streams = { "payment" },
  mode = "shadow",
  fields = { "user.id", "user.age_days", "payment.amount" },

  evaluate = function(ev, ctx)
    local user, payment = ev.user, ev.payment
    if not (user and user.id and payment) then return end
    local age, amount = user.age_days, payment.amount
    if type(age) ~= "number" or type(amount) ~= "number" then return end
    if age < MAX_AGE_DAYS and amount >= BIG_AMOUNT then
      return ctx.review{ entity = user.id, entity_type = "user", score = 0.5,
                         reason = string.format("%.2f from a %.0f-day-old account", amount, age) }
    end
  end,

  tests = {
    { name = "big spend on day one goes to review",
      events = { pay("u1", 1, 1200.00) },
      expect = { { verdict = "review", entity = "u1", reason = "1200.00 from a 1-day-old account" } } },
    { name = "small spend from new, big spend from old accounts pass",
      events = { pay("u1", 1, 40.00), pay("u2", 400, 1200.00), pay("u3", nil, 900) },
      expect = {} },
  },
}
