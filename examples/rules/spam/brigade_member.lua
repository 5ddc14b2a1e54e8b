-- The other side of spam.report_brigade: new accounts taking part in a
-- brigade.  Once 10 distinct accounts reported one target within the hour,
-- every further reporter under a week old is flagged (shadow: we are still
-- measuring how many genuine new users pile onto real abuse).
local MIN_REPORTERS = 10
local NEW_ACCOUNT_DAYS = 7

local function reports(target, n, age)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = "r" .. i, age_days = age },
               report = { target_user = target, reason = "harassment" } }
  end
  return evs
end

return {
  name = "spam.brigade_member",
  version = 1,
  description = "account under a week old reporting a user that 10+ accounts reported this hour",
  streams = { "report" },
  mode = "shadow",
  fields = { "user.id", "user.age_days", "report.target_user" },

  evaluate = function(ev, ctx)
    local user, report = ev.user, ev.report
    if not (user and user.id and report) or type(report.target_user) ~= "string" then return end
    local age = user.age_days
    if type(age) ~= "number" or age >= NEW_ACCOUNT_DAYS then return end
    local n = ctx.distinct("reporters_by_target", report.target_user, "1h")
    if n >= MIN_REPORTERS then
      return ctx.flag{ entity = user.id, entity_type = "user", score = 0.4,
                       reason = "joined a report brigade against " .. report.target_user }
    end
  end,

  tests = {
    { name = "new reporters from the 10th on are flagged",
      events = reports("victim", 11, 1),
      expect = { { verdict = "flag", entity = "r10", reason = "joined a report brigade against victim" },
                 { verdict = "flag", entity = "r11" } } },
    { name = "established reporters are not",
      events = reports("victim", 12, 300), expect = {} },
  },
}
