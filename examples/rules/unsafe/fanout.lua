-- Unsafe-content fanout: one text with a banned term pinned to board after
-- board to reach as many feeds as possible.  People re-pin to two or three
-- boards; fanout accounts hit a new board every couple of minutes.  The same
-- text on 5+ boards in an hour blocks the pin and labels the account
-- "unsafe_poster" for a week (unsafe.repeat_offender reviews what it posts
-- next).  The counter is keyed by the text, so a ring of accounts spreading
-- one text adds up too.
local MIN_BOARDS = 5

local function banned_term(ctx, text)
  for word in string.gmatch(string.lower(text), "[%w_]+") do
    if ctx.in_list("banned_terms", word) then return word end
  end
  return nil
end

local function pins(user, text, n, nboards)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = user }, pin = { text = text, board_id = "b" .. ((i - 1) % nboards + 1) } }
  end
  return evs
end

return {
  name = "unsafe.fanout",
  version = 1,
  description = "text with a banned term pinned to 5+ boards within an hour",
  streams = { "pin_create" },
  mode = "enforce",
  fields = { "user.id", "pin.text" },

  evaluate = function(ev, ctx)
    local user, pin = ev.user, ev.pin
    if not (user and user.id and pin) or type(pin.text) ~= "string" or pin.text == "" then return end
    local boards = ctx.distinct("boards_by_text", pin.text, "1h")
    if boards < MIN_BOARDS then return end
    local term = banned_term(ctx, pin.text)
    if not term then return end
    ctx.label(user.id, "unsafe_poster", "7d")
    return ctx.block{ entity = user.id, entity_type = "user", score = 0.9, ttl = "7d",
                      reason = string.format("'%s' text on %.0f boards in 1h", term, boards) }
  end,

  tests = {
    { name = "the 5th and 6th board are blocked",
      events = pins("u1", "#thinspo goals, follow for daily tips", 6, 6),
      expect = { { verdict = "block", entity = "u1", reason = "'thinspo' text on 5 boards in 1h" },
                 { verdict = "block", entity = "u1", reason = "'thinspo' text on 6 boards in 1h" } } },
    { name = "the same text again and again on two boards passes",
      events = pins("u1", "#thinspo goals", 8, 2), expect = {} },
    { name = "harmless text on many boards passes",
      events = pins("u2", "easy weeknight pasta", 8, 8), expect = {} },
  },
}
