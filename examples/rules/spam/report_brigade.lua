-- Mass-report brigades: many accounts reporting one user within the hour.
-- Ordinary reports in the sample are spread thinly (a target rarely gets two
-- in a day); brigades send 20-35 reports in ~15 minutes.  15 distinct
-- reporters in an hour sends the *target* to human review once a day, so the
-- reported user is protected from automatic action rather than punished.
-- The label makes it one review per target per day, not one per report.
local MIN_REPORTERS = 15

local function reports(target, n, distinct_reporters)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = "r" .. ((i - 1) % distinct_reporters + 1) },
               report = { target_user = target, reason = "hate" } }
  end
  return evs
end

return {
  name = "spam.report_brigade",
  version = 1,
  description = "15 or more distinct accounts reported one user within an hour",
  streams = { "report" },
  mode = "shadow",
  fields = { "report.target_user" },

  evaluate = function(ev, ctx)
    local target = ev.report and ev.report.target_user
    if type(target) ~= "string" then return end
    local n = ctx.distinct("reporters_by_target", target, "1h")
    if n >= MIN_REPORTERS and not ctx.has_label(target, "brigade_review") then
      ctx.label(target, "brigade_review", "1d")
      return ctx.review{ entity = target, entity_type = "user", score = 0.6,
                         reason = string.format("%.0f distinct reporters in 1h", n) }
    end
  end,

  tests = {
    { name = "a brigade sends the target to review once",
      events = reports("victim", 20, 20),
      expect = { { verdict = "review", entity = "victim", reason = "15 distinct reporters in 1h" } } },
    { name = "the same few reporters repeating themselves are no brigade",
      events = reports("victim", 30, 4), expect = {} },
    { name = "a report without a target is ignored",
      events = { { user = { id = "r1" }, report = { reason = "spam" } } }, expect = {} },
  },
}
