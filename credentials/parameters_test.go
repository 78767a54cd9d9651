package credentials_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/credentials"
)

func TestFromParameters(t *testing.T) {
	base := credentials.Target{RoleName: "brokerkit-target", ExternalID: "ext-secret-1", Region: "eu-west-1",
		RoleARN: "arn:aws:iam::999999999999:role/own"}
	for _, tc := range []struct {
		reason   string
		params   map[string]any
		want     credentials.Target
		wantRest map[string]any
		wantErr  string // the parameter the error names
	}{
		{reason: "no target parameters: base, which names an account", params: map[string]any{"Size": 1},
			want: base, wantRest: map[string]any{"Size": 1}},
		{reason: "account only: base role name", params: map[string]any{"target_account_id": "111111111111", "Size": 1},
			want:     credentials.Target{AccountID: "111111111111", RoleName: "brokerkit-target", ExternalID: "ext-secret-1", Region: "eu-west-1"},
			wantRest: map[string]any{"Size": 1}},
		{reason: "account and role", params: map[string]any{"target_account_id": "111111111111", "target_role_name": "other"},
			want:     credentials.Target{AccountID: "111111111111", RoleName: "other", ExternalID: "ext-secret-1", Region: "eu-west-1"},
			wantRest: map[string]any{}},
		{reason: "account not 12 digits", params: map[string]any{"target_account_id": "1234"}, wantErr: "target_account_id"},
		{reason: "account a number", params: map[string]any{"target_account_id": 111111111111}, wantErr: "target_account_id"},
		{reason: "role with a slash", params: map[string]any{"target_account_id": "111111111111", "target_role_name": "a/b"}, wantErr: "target_role_name"},
		{reason: "role without an account", params: map[string]any{"target_role_name": "r"}, wantErr: "target_account_id"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			in := map[string]any{}
			for k, v := range tc.params {
				in[k] = v
			}
			got, rest, err := credentials.FromParameters(base, in)
			if tc.wantErr != "" {
				var ve *credentials.ValidationError
				if !errors.As(err, &ve) || ve.Field != tc.wantErr || !errors.Is(err, credentials.ErrInvalidTarget) {
					t.Fatalf("err = %v, want a ValidationError naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Target (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRest, rest); diff != "" {
				t.Errorf("rest (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.params, in); diff != "" {
				t.Errorf("params changed (-before +after):\n%s", diff)
			}
		})
	}
	// A base without an account is only defaults: no parameters, the broker's own identity.
	if got, _, err := credentials.FromParameters(credentials.Target{RoleName: "r", Region: "eu-west-1"}, map[string]any{}); err != nil || got != (credentials.Target{}) {
		t.Errorf("no parameters, base without an account: %v, %v; want the zero Target", got, err)
	}
	// The zero base has no role name: an account alone is an error.
	if _, _, err := credentials.FromParameters(credentials.Target{}, map[string]any{"target_account_id": "111111111111"}); err == nil {
		t.Error("account without any role name: no error")
	}
}
