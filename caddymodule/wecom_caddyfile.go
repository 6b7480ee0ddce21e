package wechatauth

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshalWeCom reads the wecom setting of wechat_auth (the dispenser is on
// its name). The corp, app and secret go on its line or in its block:
//
//	wecom [<corp_id> <agent_id> <secret>] {
//		corp_id            <corp_id>               # 企业ID, ww…
//		agent_id           <agent_id>              # the self-built app's AgentId
//		secret             <secret>                # {env.WECOM_SECRET} or {file./run/secrets/x}
//		scope              base|privateinfo
//		allow_users        <userid>...             # a linked corp's member as CorpId/userid
//		allow_departments  <id>...                 # each with its sub-departments
//		allow_linked_corps <corp_id>...            # 互联企业 whose members may enter
//		allow_customers                            # the corp's customers (external_userid)
//		allow_non_members                          # anyone WeCom signs in (openid only)
//		departments_ttl    <duration>              # the department tree is kept this long, default 10m
//		api_base           <url>
//		open_base          <url>
//		login_base         <url>
//	}
//
// Rules on the values belong to WeCom.validate; this only shapes tokens.
func unmarshalWeCom(d *caddyfile.Dispenser) (*WeCom, error) {
	c := &WeCom{}
	seen := map[string]bool{}
	if args := d.RemainingArgs(); len(args) == 3 {
		c.CorpID, c.AgentID, c.Secret = args[0], args[1], args[2]
		seen["corp_id"], seen["agent_id"], seen["secret"] = true, true, true
	} else if len(args) != 0 {
		// The values are not echoed: one may be the secret.
		return nil, d.Errf("wecom takes three values on its line, <corp_id> <agent_id> <secret>, or none and a block: e.g. wecom ww0123456789abcdef 1000002 {env.WECOM_SECRET}")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("wecom %s is set twice (the wecom line sets corp_id, agent_id and secret): keep one; list several values on one line", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "corp_id":
			err = oneArg(d, &c.CorpID)
		case "agent_id":
			err = oneArg(d, &c.AgentID)
		case "secret":
			err = oneArg(d, &c.Secret)
		case "scope":
			err = oneArg(d, &c.Scope)
		case "api_base":
			err = oneArg(d, &c.APIBase)
		case "open_base":
			err = oneArg(d, &c.OpenBase)
		case "login_base":
			err = oneArg(d, &c.LoginBase)
		case "departments_ttl":
			err = durationArg(d, &c.DepartmentsTTL, "10m")
		case "allow_users", "allow_linked_corps":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("wecom %s needs at least one value", name)
			}
			if name == "allow_users" {
				c.AllowUsers = args
			} else {
				c.AllowLinkedCorps = args
			}
		case "allow_departments":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("wecom allow_departments needs at least one department id")
			}
			for _, a := range args {
				id, perr := strconv.ParseInt(a, 10, 64)
				if perr != nil {
					return nil, d.Errf("wecom allow_departments %q is not a department id: ids are numbers (企业微信管理后台 → 通讯录 → the department → 部门ID)", a)
				}
				c.AllowDepartments = append(c.AllowDepartments, id)
			}
		case "allow_customers", "allow_non_members":
			if d.NextArg() {
				return nil, d.Errf("wecom %s takes no value", name)
			}
			if name == "allow_customers" {
				c.AllowCustomers = true
			} else {
				c.AllowNonMembers = true
			}
		default:
			return nil, d.Errf("unknown wecom setting %q: use corp_id, agent_id, secret, scope, allow_users, allow_departments, allow_linked_corps, allow_customers, allow_non_members, departments_ttl, api_base, open_base or login_base", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
