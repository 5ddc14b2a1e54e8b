-- Follow spam: following dozens of strangers an hour to farm follow-backs.
-- People in the sample follow a handful of accounts an hour; follow spammers
-- follow a new account every ~15 s.  More than 40 distinct accounts in an
-- hour is the cut-off (re-following the same account does not count).
-- Accounts under 30 days are blocked; older unverified ones go to review;
-- verified accounts are left alone (campaigns, events).
local MAX_TARGETS_PER_HOUR = 40
local NEW_ACCOUNT_DAYS = 30

local function follows(user, age, verified, n, distinct_targets)
  local evs = {}
  for i = 1, n do
    evs[i] = { user = { id = user, age_days = age, verified = verified },
               follow = { target = "t" .. ((i - 1) % distinct_targets + 1) } }
  end
  return evs
end

return {
  name = "spam.follow_burst",
  version = 1,
  description = "more than 40 distinct accounts followed in an hour",
  streams = { "follow" },
  mode = "enforce",
  fields = { "user.id", "user.age_days", "user.verified" },

  evaluate = function(ev, ctx)
    local user = ev.user
    if not (user and user.id) or user.verified == true then return end
    local n = ctx.distinct("follow_targets_by_user", user.id, "1h")
    if n <= MAX_TARGETS_PER_HOUR then return end
    local reason = string.format("followed %.0f accounts in 1h", n)
    local age = user.age_days
    if type(age) == "number" and age < NEW_ACCOUNT_DAYS then
      return ctx.block{ entity = user.id, entity_type = "user", reason = reason, score = 0.85, ttl = "1d" }
    end
    return ctx.review{ entity = user.id, entity_type = "user", reason = reason, score = 0.5 }
  end,

  tests = {
    { name = "a new account following 41 strangers is blocked on the 41st",
      events = follows("u1", 3, false, 41, 41),
      expect = { { verdict = "block", entity = "u1", reason = "followed 41 accounts in 1h" } } },
    { name = "re-following the same few accounts does not count",
      events = follows("u1", 3, false, 60, 5), expect = {} },
    { name = "an older account goes to review instead",
      events = follows("u2", 400, false, 42, 42),
      expect = { { verdict = "review", entity = "u2" }, { verdict = "review", entity = "u2" } } },
    { name = "verified accounts are left alone",
      events = follows("u3", 3, true, 45, 45), expect = {} },
  },
}
