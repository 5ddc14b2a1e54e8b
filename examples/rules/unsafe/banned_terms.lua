-- Any pin or post whose text contains a banned term as a whole word.  Terms
-- alone are ambiguous (recovery communities quote them), so this flags in
-- shadow mode; unsafe.fanout acts when the same text is spread around.
local function banned_term(ctx, text)
  if type(text) ~= "string" then return nil end
  for word in string.gmatch(string.lower(text), "[%w_]+") do
    if ctx.in_list("banned_terms", word) then return word end
  end
  return nil
end

return {
  name = "unsafe.banned_terms",
  version = 1,
  description = "pin or post text containing a banned term",
  streams = { "pin_create", "post_create" },
  mode = "shadow",
  fields = { "user.id", "pin.text", "post.text" },

  evaluate = function(ev, ctx)
    local user = ev.user
    if not (user and user.id) then return end
    local text = (ev.pin and ev.pin.text) or (ev.post and ev.post.text)
    local term = banned_term(ctx, text)
    if term then
      return ctx.flag{ entity = user.id, entity_type = "user", reason = "banned term: " .. term, score = 0.4 }
    end
  end,

  tests = {
    { name = "a banned term in a pin or a post is flagged",
      events = { { user = { id = "u1" }, pin = { text = "#Thinspo goals" } },
                 { type = "post_create", user = { id = "u2" }, post = { text = "join the proana group" } } },
      expect = { { verdict = "flag", entity = "u1", reason = "banned term: thinspo" },
                 { verdict = "flag", entity = "u2", reason = "banned term: proana" } } },
    { name = "terms inside other words, empty and missing text pass",
      events = { { user = { id = "u1" }, pin = { text = "thinsporadic weather" } },
                 { user = { id = "u1" }, pin = { text = "" } },
                 { user = { id = "u1" }, pin = {} } },
      expect = {} },
  },
}
