-- Retired: flagged pins written in capitals.  It flagged far more enthusiasm
-- than spam, so it is kept "off" for reference.
return {
  name = "spam.caps_shouting",
  version = 2,
  description = "pin text of 12+ letters, all capitals (retired)",
  streams = { "pin_create" },
  mode = "off",
  fields = { "user.id", "pin.text" },

  evaluate = function(ev, ctx)
    local user, pin = ev.user, ev.pin
    if not (user and user.id and pin) or type(pin.text) ~= "string" then return end
    local letters = string.gsub(pin.text, "%A", "")
    if #letters >= 12 and string.upper(letters) == letters then
      return ctx.flag{ entity = user.id, entity_type = "user", reason = "all caps", score = 0.1 }
    end
  end,

  -- An "off" rule never runs in eval or run, but `warden test` evaluates it
  -- (its hits say mode "off"), so it can be tested before it is switched on.
  tests = {
    { name = "shouting is flagged (when switched on)",
      events = { { user = { id = "u1" }, pin = { text = "FREE GIFT CARDS CLICK NOW" } } },
      expect = { { verdict = "flag", entity = "u1", mode = "off" } } },
    { name = "normal text and short caps pass",
      events = { { user = { id = "u1" }, pin = { text = "easy weeknight pasta" } },
                 { user = { id = "u1" }, pin = { text = "DIY TIPS" } } },
      expect = {} },
  },
}
