package credentials

import (
	"fmt"
	"maps"
)

// The request parameters through which a platform user may choose the
// account an instance goes to, as the AWS Service Broker named them.
const (
	ParamAccountID = "target_account_id"
	ParamRoleName  = "target_role_name"
)

// FromParameters returns the Target of an instance whose provision
// request has params: base, with the target_account_id and
// target_role_name parameters applied when present, and the parameters
// left for the provisioner (a new map without those two; params is not
// changed).
//
// Without those parameters the instance stays where the broker's default
// is: base if it names an account (AccountID or RoleARN), else the zero
// Target, the broker's own identity (base's other fields are defaults
// for a named account only).
//
// base carries what the user does not choose: the region, the external
// ID the target roles' trust policies require, the session name, and the
// default role name. A target_account_id without target_role_name uses
// base.RoleName; either parameter clears base.RoleARN, which names a role
// of base's own account. A parameter that is not a string, an account
// that is not 12 digits, or a role name that breaks IAM's rules is a
// *[ValidationError] naming the parameter. Whether users may choose at all
// is the catalog's call: a plan whose schema does not declare these
// parameters never lets them through to here.
func FromParameters(base Target, params map[string]any) (Target, map[string]any, error) {
	_, hasAccount := params[ParamAccountID]
	_, hasRole := params[ParamRoleName]
	if !hasAccount && !hasRole {
		if base.AccountID == "" && base.RoleARN == "" {
			return Target{}, params, nil
		}
		return base, params, nil
	}
	rest := maps.Clone(params)
	delete(rest, ParamAccountID)
	delete(rest, ParamRoleName)
	t := base
	t.RoleARN = ""
	str := func(name string) (string, error) {
		v, ok := params[name].(string)
		if !ok {
			return "", invalid(name, "not a string")
		}
		return v, nil
	}
	if hasAccount {
		v, err := str(ParamAccountID)
		if err != nil {
			return Target{}, nil, err
		}
		if !accountRE.MatchString(v) {
			return Target{}, nil, invalid(ParamAccountID, fmt.Sprintf("%q is not 12 digits", v))
		}
		t.AccountID = v
	}
	if hasRole {
		v, err := str(ParamRoleName)
		if err != nil {
			return Target{}, nil, err
		}
		if !roleNameRE.MatchString(v) {
			return Target{}, nil, invalid(ParamRoleName, fmt.Sprintf("%q is not 1 to 64 characters of letters, digits and +=,.@_-", v))
		}
		t.RoleName = v
	}
	if t.AccountID == "" {
		return Target{}, nil, invalid(ParamAccountID, "required with "+ParamRoleName)
	}
	if t.RoleName == "" {
		return Target{}, nil, invalid(ParamRoleName, "required with "+ParamAccountID+" (the broker has no default role name)")
	}
	return t, rest, nil
}
