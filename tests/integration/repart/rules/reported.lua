-- Distinct reporters per target; labels the target (a user id).
return {
  name = "t.reported",
  version = 1,
  streams = { "report" },
  mode = "enforce",
  fields = { "report.target_user" },
  evaluate = function(ev, ctx)
    local t = ev.report.target_user
    local n = ctx.distinct("reporters_by_target", t, "1h")
    if n >= 17 then
      ctx.label(t, "reported", "1h")
      return ctx.review{ entity = t, reason = string.format("%d reporters", n) }
    end
  end,
}
