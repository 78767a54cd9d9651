package credentials_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/brokerkit/brokerkit/credentials"
)

// verbs is a variable so that vet does not reject the unusual verbs.
var verbs = []string{"%d", "%x", "%s", "%v", "%+v", "%#v", "%q"}

func TestTargetEveryVerbHidesExternalID(t *testing.T) {
	const secret = "CANARY-external-id-42"
	tg := credentials.Target{AccountID: "111111111111", RoleName: "r", ExternalID: secret}
	for _, v := range verbs {
		for _, x := range []any{tg, &tg} {
			if s := fmt.Sprintf(v, x); strings.Contains(s, secret) {
				t.Errorf("%s printed the external ID: %s", v, s)
			}
		}
	}
}
