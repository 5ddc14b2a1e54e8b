-- Reads labels set on other streams: by a login (shared_infra) and by a
-- report naming this user as its target (reported).
return {
  name = "t.pay_after_label",
  version = 1,
  streams = { "payment" },
  mode = "enforce",
  fields = { "user.id" },
  evaluate = function(ev, ctx)
    local u = ev.user.id
    local a, b = ctx.has_label(u, "shared_infra"), ctx.has_label(u, "reported")
    if a or b then
      return ctx.block{ entity = u, reason = (a and "shared_infra" or "") .. (b and " reported" or "") }
    end
  end,
}
