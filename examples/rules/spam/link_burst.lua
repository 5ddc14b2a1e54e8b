-- Link spam from throwaway accounts: a days-old account pinning links much
-- faster than people do.  In the sample, ordinary accounts pin a few times
-- an hour at most; spammers pin a link a minute for half an hour.  More than
-- 20 pins in an hour from an account under a week old is the cut-off.
local MAX_AGE_DAYS = 7
local MAX_PINS_PER_HOUR = 20

local function link_pins(user, age, n)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = user, age_days = age },
               pin = { link = "https://free-giftcards.top/p" .. i, board_id = "b1" } }
  end
  return evs
end

-- 21 pins six minutes apart: never more than 10 in any hour
local function slow_pins(user, age, n)
  local evs = link_pins(user, age, n)
  for i = 1, n do
    local m = (i - 1) * 6
    evs[i].ts = string.format("2026-11-20T%02d:%02d:00Z", 10 + m // 60, m % 60)
  end
  return evs
end

return {
  name = "spam.link_burst",
  version = 1,
  description = "link pin from an account under a week old that pinned more than 20 times in the last hour",
  streams = { "pin_create" },
  mode = "enforce",
  fields = { "user.id", "user.age_days", "pin.link" },

  evaluate = function(ev, ctx)
    local user, pin = ev.user, ev.pin
    if not (user and user.id and pin and pin.link) then return end
    local age = user.age_days
    if type(age) ~= "number" or age >= MAX_AGE_DAYS then return end
    local n = ctx.count("pins_by_user", user.id, "1h")
    if n > MAX_PINS_PER_HOUR then
      return ctx.block{ entity = user.id, entity_type = "user", score = 0.9, ttl = "1d",
                        reason = string.format("link burst: %d pins in 1h", n) }
    end
  end,

  tests = {
    { name = "a few link pins from a new account pass",
      events = link_pins("u1", 2, 5), expect = {} },
    { name = "the 21st and 22nd pin in an hour are blocked",
      events = link_pins("u1", 2, 22),
      expect = { { verdict = "block", entity = "u1", reason = "link burst: 21 pins in 1h" },
                 { verdict = "block", entity = "u1", reason = "link burst: 22 pins in 1h" } } },
    { name = "an old account pinning fast is left alone",
      events = link_pins("u2", 400, 25), expect = {} },
    { name = "pins spread over two hours never add up",
      events = slow_pins("u3", 1, 21), expect = {} },
    { name = "pins without a link or age are ignored",
      events = { { user = { id = "u4" }, pin = { link = "https://x.example/" } },
                 { user = { id = "u4", age_days = 1 }, pin = {} } },
      expect = {} },
  },
}
