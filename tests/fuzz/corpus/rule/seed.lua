return {
  name = "fuzz.seed", version = 1, streams = { "pin_create" }, mode = "shadow",
  fields = { "user.id" },
  evaluate = function(ev, ctx)
    if ctx.count("pins_by_user", ev.user.id, "1h") > 3 then
      return ctx.flag{ entity = ev.user.id, reason = "many pins" }
    end
  end,
}
