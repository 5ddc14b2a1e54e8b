-- More than 20 failed logins of one account in an hour: review it.
local LIMIT = 20

local function failed(user)
  return { user = { id = user }, login = { ip = "10.0.0.1", success = false } }
end

return {
  name = "ato.failed_login_velocity",
  version = 1,
  description = "more than 20 failed logins of one account in a sliding hour",
  streams = { "login" },
  mode = "enforce",
  fields = { "user.id", "login.success" },

  evaluate = function(ev, ctx)
    local user, login = ev.user, ev.login
    if not (user and user.id and login) or login.success ~= false then return end
    local n = ctx.count("failed_logins_by_user", user.id, "1h")
    if n > LIMIT then
      return ctx.review{ entity = user.id, entity_type = "user", reason = n .. " failed logins in 1h" }
    end
  end,

  tests = {
    { name = "the 21st failure in an hour is reviewed, not the 20th",
      events = (function() local t = {} for i = 1, 21 do t[i] = failed("u1") end return t end)(),
      expect = { { verdict = "review", entity = "u1", reason = "21 failed logins in 1h" } } },
  },
}
