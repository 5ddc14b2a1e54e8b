-- Anything pinned or posted by an account that unsafe.fanout labelled
-- "unsafe_poster" in the last week goes to review before it is shown widely.
return {
  name = "unsafe.repeat_offender",
  version = 1,
  description = "pin or post by an account labelled unsafe_poster",
  streams = { "pin_create", "post_create" },
  mode = "enforce",
  fields = { "user.id" },

  evaluate = function(ev, ctx)
    local user = ev.user
    if user and user.id and ctx.has_label(user.id, "unsafe_poster") then
      return ctx.review{ entity = user.id, entity_type = "user", reason = "posting while labelled unsafe_poster", score = 0.7 }
    end
  end,

  tests = {
    { name = "posts after a fanout block go to review",
      events = (function()
        local evs = {}
        for i = 1, 5 do
          evs[i] = { user = { id = "u1" }, pin = { text = "bonespo tips", board_id = "b" .. i } }
        end
        evs[6] = { type = "post_create", user = { id = "u1" }, post = { text = "new post" } }
        return evs
      end)(),
      expect = { { verdict = "review", entity = "u1" } } },
    { name = "other accounts are not affected",
      events = { { user = { id = "u2" }, pin = { text = "hello", board_id = "b1" } },
                 { type = "post_create", user = { id = "u2" }, post = { text = "hi" } } },
      expect = {} },
  },
}
