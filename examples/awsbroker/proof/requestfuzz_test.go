package proof

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
)

// fuzzRequest is one request of the request-level fuzzer, as pieces.
type fuzzRequest struct {
	method   string
	path     string // as sent, escapes and all
	query    string // as sent
	header   http.Header
	body     []byte
	mutating bool     // an endpoint that changes state, made invalid on purpose
	what     []string // the mutations, for the failure message
}

// badIDs are instance and binding IDs a platform should never send.
func badID(rng *rand.Rand) (string, string) {
	switch rng.IntN(12) {
	case 0:
		return "..", "traversal"
	case 1:
		return "..%2F..%2Fetc%2Fpasswd", "escaped traversal"
	case 2:
		return "%2e%2e", "escaped dots"
	case 3:
		return strings.Repeat("a", 1000+rng.IntN(60000)), "long"
	case 4:
		return strings.Repeat("b", 70000), "longer than the header limit"
	case 5:
		return "%ff%fe%fd", "not UTF-8"
	case 6:
		return "a%00b", "NUL"
	case 7:
		return "a%0Ab%0D", "CR LF"
	case 8:
		return "%zz", "bad escape"
	case 9:
		return "%E2%80%AE%F0%9F%98%80", "unicode"
	case 10:
		return "a%20b;c=d", "space and semicolon"
	}
	return "x%25", "percent"
}

// badBody returns a body that must be refused, and why.
func badBody(rng *rand.Rand, good map[string]any) ([]byte, string) {
	b, _ := json.Marshal(good)
	switch rng.IntN(10) {
	case 0:
		return b[:rng.IntN(len(b)-1)], "truncated"
	case 1:
		// A field the body has: an unknown field may be ignored.
		keys := slices.Sorted(maps.Keys(good))
		k := keys[rng.IntN(len(keys))]
		m := map[string]any{}
		for kk, v := range good {
			m[kk] = v
		}
		// A value of another JSON type than the good one's (not null:
		// null is an optional field left out, as in an update's plan_id).
		wrong := []any{1, true, []any{1}, "x", 1e300, map[string]any{"a": []any{}}}
		for {
			m[k] = wrong[rng.IntN(len(wrong))]
			if kindOf(m[k]) != kindOf(good[k]) {
				break
			}
		}
		out, _ := json.Marshal(m)
		return out, fmt.Sprintf("wrong type for %s (%v)", k, m[k])
	case 2:
		return append(b[:len(b)-1], []byte(`,"parameters":{"x":"`+strings.Repeat("y", 1<<20+10)+`"}}`)...), "larger than 1 MiB"
	case 3:
		depth := 1000 + rng.IntN(20000)
		return []byte(`{"service_id":"s","parameters":{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`), fmt.Sprintf("nested %d deep", depth)
	case 4:
		return []byte("\xff\xfe{\"service_id\":\"\xc3\x28\"}"), "not UTF-8"
	case 5:
		return []byte(`not json at all`), "not JSON"
	case 6:
		return []byte(`[]`), "an array"
	case 7:
		return []byte(`null`), "null"
	case 8:
		return []byte(`{"service_id":"a","service_id":`), "duplicate key, truncated"
	}
	return []byte(`{"service_id":1e999999}`), "number out of range"
}

// TestRequestFuzz drives every endpoint of the running broker with
// malformed IDs, bodies, headers and query strings, each state-changing
// request made invalid on purpose (a bad body, a bad version header or a
// missing accepts_incomplete), and checks: never a 5xx, never a dropped
// connection (a panic), never a 2xx to a state-changing request, every
// error body the spec's error object (or nothing), no CloudFormation call
// and no change to the instance and binding that exist, and no panic in
// the log.
func TestRequestFuzz(t *testing.T) {
	gate(t)
	n := 3000
	if *long {
		n = 30000
	}
	prefix := "fz" + brokertest.NewUUID()[:6]
	a := newFakeAWS(t, prefix, nil, nil)
	b := newBroker(t, t.TempDir(), a.env(), "-stack-prefix", prefix, "-poll-interval", "100ms", "-log-level", "info")
	b.start()
	sid, pid := planIDs(t, catalogOf(t, b), "sqs", "standard")
	c := b.client()
	id, bid := brokertest.NewUUID(), brokertest.NewUUID()
	if r, err := c.Provision(t.Context(), brokertest.ProvisionRequest{InstanceID: id, ServiceID: sid, PlanID: pid, OrganizationGUID: "o", SpaceGUID: "s",
		Parameters: broker.Parameters{"VisibilityTimeout": 40}, AcceptsIncomplete: true}); err != nil || r.StatusCode != http.StatusAccepted {
		t.Fatalf("provision: %v %v", r, err)
	}
	if lo, err := c.PollLastOperation(t.Context(), id, "", brokertest.PollOptions{Interval: 100 * time.Millisecond}); err != nil || lo.State != broker.Succeeded {
		t.Fatalf("provision: %+v %v", lo, err)
	}
	if r, err := c.Bind(t.Context(), brokertest.BindRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true}); err != nil || r.StatusCode != http.StatusAccepted {
		t.Fatalf("bind: %v %v", r, err)
	}
	if lo, err := c.PollBindingLastOperation(t.Context(), id, bid, "", brokertest.PollOptions{Interval: 100 * time.Millisecond}); err != nil || lo.State != broker.Succeeded {
		t.Fatalf("bind: %+v %v", lo, err)
	}
	snapshot := func() string {
		var sb strings.Builder
		calls := a.f.Calls()
		fmt.Fprintf(&sb, "CreateStack %d UpdateStack %d DeleteStack %d\n", calls["CreateStack"], calls["UpdateStack"], calls["DeleteStack"])
		for _, s := range a.f.Stacks() {
			fmt.Fprintf(&sb, "%s %s %v\n", s.Name, s.Status, s.Parameters)
		}
		lo, _ := c.LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: id})
		gb, _ := c.GetBinding(t.Context(), brokertest.GetBindingRequest{InstanceID: id, BindingID: bid, ServiceID: sid, PlanID: pid})
		fmt.Fprintf(&sb, "last_operation %s\nbinding %d %s\n", lo.Body, gb.StatusCode, gb.Body)
		return sb.String()
	}
	before := snapshot()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	host := strings.TrimPrefix(b.URL(), "http://")
	hc := &http.Client{Timeout: 30 * time.Second}
	statuses := map[int]int{}
	serverLevel := 0
	provisionBody := map[string]any{"service_id": sid, "plan_id": pid, "organization_guid": "o", "space_guid": "s", "parameters": map[string]any{"VisibilityTimeout": 40}}
	updateBody := map[string]any{"service_id": sid, "plan_id": pid, "parameters": map[string]any{"VisibilityTimeout": 50}, "previous_values": map[string]any{"plan_id": pid}}
	bindBody := map[string]any{"service_id": sid, "plan_id": pid, "bind_resource": map[string]any{"app_guid": "a"}}
	for i := range n {
		fr := fuzzRequest{header: http.Header{"X-Broker-Api-Version": {"2.17"}}}
		inst, bind := id, bid
		switch rng.IntN(3) {
		case 0:
			var w string
			inst, w = badID(rng)
			fr.what = append(fr.what, "instance ID "+w)
		case 1:
			inst = brokertest.NewUUID()
		}
		if rng.IntN(3) == 0 {
			var w string
			bind, w = badID(rng)
			fr.what = append(fr.what, "binding ID "+w)
		}
		ip := "/v2/service_instances/" + inst
		bp := ip + "/service_bindings/" + bind
		q := url.Values{"service_id": {sid}, "plan_id": {pid}, "accepts_incomplete": {"true"}}
		var good map[string]any
		ep := rng.IntN(11)
		switch ep {
		case 0:
			fr.method, fr.path = "GET", "/v2/catalog"
		case 1:
			fr.method, fr.path, good, fr.mutating = "PUT", ip, provisionBody, true
		case 2:
			fr.method, fr.path, good, fr.mutating = "PATCH", ip, updateBody, true
		case 3:
			fr.method, fr.path, fr.mutating = "DELETE", ip, true
		case 4:
			fr.method, fr.path = "GET", ip
		case 5:
			fr.method, fr.path = "GET", ip+"/last_operation"
			q.Set("operation", "op")
		case 6:
			fr.method, fr.path, good, fr.mutating = "PUT", bp, bindBody, true
		case 7:
			fr.method, fr.path, fr.mutating = "DELETE", bp, true
		case 8:
			fr.method, fr.path = "GET", bp
		case 9:
			fr.method, fr.path = "GET", bp+"/last_operation"
		case 10:
			fr.method = []string{"POST", "TRACE", "PROPFIND", "GET", "PUT"}[rng.IntN(5)]
			fr.path = []string{"/v2/service_instances", "/v2/../v2/catalog", "/v2//catalog", ip + "/service_bindings", "/v2/catalog/x", "//", "/v3/catalog"}[rng.IntN(7)]
			fr.mutating = fr.method != "GET"
		}
		if good != nil {
			fr.body, _ = json.Marshal(good)
		}
		// The mutation that makes a state-changing request invalid.
		bodyBroken := false
		if fr.mutating {
			switch k := rng.IntN(4); {
			case k == 0 || good == nil && k == 1:
				fr.header.Set("X-Broker-Api-Version", []string{"1.0", "", "abc", "2.99999999999999999999", "3.0", "2.-1"}[rng.IntN(6)])
				fr.what = append(fr.what, "bad version "+fr.header.Get("X-Broker-Api-Version"))
			case k == 1:
				var w string
				fr.body, w = badBody(rng, good)
				fr.what = append(fr.what, "body "+w)
				bodyBroken = true
			default:
				v := []string{"", "false", "maybe", "0"}[rng.IntN(4)]
				if v == "" {
					q.Del("accepts_incomplete")
				} else {
					q.Set("accepts_incomplete", v)
				}
				fr.what = append(fr.what, "accepts_incomplete="+v)
			}
		}
		// Other mutations, any endpoint.
		for range rng.IntN(3) {
			switch rng.IntN(9) {
			case 0:
				fr.header.Set("X-Broker-Api-Originating-Identity", []string{"cloudfoundry %%%", "kubernetes " + strings.Repeat("A", 30000), "x", "cloudfoundry e30=", "cloudfoundry eyJ1c2VyX2lkIjpbXX0="}[rng.IntN(5)])
				fr.what = append(fr.what, "originating identity")
			case 1:
				fr.header.Set("X-Broker-Api-Request-Identity", strings.Repeat("\xffr\t", 1000))
				fr.what = append(fr.what, "request identity")
			case 2:
				fr.header.Set("Content-Type", []string{"text/plain", "application/json; charset=utf-16", "application/x-www-form-urlencoded", ";;;", "application/json\xff"}[rng.IntN(5)])
				fr.what = append(fr.what, "content type")
			case 3:
				q.Set("plan_id", []string{"../../x", strings.Repeat("p", 50000), "\xff", ""}[rng.IntN(4)])
				fr.what = append(fr.what, "plan_id")
			case 4:
				q.Set("service_id", brokertest.NewUUID())
				fr.what = append(fr.what, "unknown service_id")
			case 5:
				q.Add("accepts_incomplete", "false")
				fr.what = append(fr.what, "accepts_incomplete twice")
			case 6:
				q.Set("operation", strings.Repeat("o", rng.IntN(5000)))
				fr.what = append(fr.what, "operation")
			case 7:
				fr.header.Set("X-Broker-Api-Version", "2.17, 2.16")
				fr.what = append(fr.what, "two versions")
			case 8:
				if good != nil && !bodyBroken {
					m := map[string]any{}
					for k, v := range good {
						m[k] = v
					}
					m["context"] = map[string]any{"platform": strings.Repeat("k", 1000), "namespace": "\u202e", "organization_name": []any{1, 2}}
					fr.body, _ = json.Marshal(m)
					fr.what = append(fr.what, "odd context")
				}
			}
		}
		fr.query = q.Encode()
		if rng.IntN(10) == 0 {
			fr.query += "&%zz=1&=&&x"
			fr.what = append(fr.what, "bad query escapes")
		}

		req, err := http.NewRequestWithContext(t.Context(), fr.method, "http://"+host+"/", bytes.NewReader(fr.body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = "//" + host + fr.path
		req.URL.RawQuery = fr.query
		req.Header = fr.header
		if fr.body != nil && req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.SetBasicAuth(platformUser, platformPassword)
		resp, err := hc.Do(req)
		if err != nil && serverRefuses(fr.path) {
			// net/http answers a request line it cannot parse (or one
			// beyond the header limit) with 400 or 431 and closes the
			// connection without reading the rest: a large body's or
			// header's write may then fail.
			serverLevel++
			continue
		}
		if err != nil {
			t.Errorf("request %d %s %.200s (%s): no answer: %v", i, fr.method, fr.path, strings.Join(fr.what, ", "), err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		desc := fmt.Sprintf("request %d %s %.120s?%.120s (%s)", i, fr.method, fr.path, fr.query, strings.Join(fr.what, ", "))
		switch {
		case resp.StatusCode >= 500:
			t.Errorf("%s: %d %.300s", desc, resp.StatusCode, body)
		case fr.mutating && resp.StatusCode < 300:
			t.Errorf("%s: %d %.300s, want it refused", desc, resp.StatusCode, body)
		}
		if resp.StatusCode < 400 || fr.method == "HEAD" {
			continue
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			// net/http's own answers, before the handler: a request line
			// or headers beyond the limits, a malformed request.
			if (resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge || resp.StatusCode == http.StatusBadRequest) && resp.Close {
				serverLevel++
				continue
			}
			t.Errorf("%s: %d with Content-Type %q: %.200s", desc, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			continue
		}
		var eb map[string]any
		if err := json.Unmarshal(body, &eb); err != nil {
			t.Errorf("%s: %d error body is not a JSON object: %.200s", desc, resp.StatusCode, body)
			continue
		}
		for k, v := range eb {
			_, isString := v.(string)
			_, isBool := v.(bool)
			switch {
			case (k == "error" || k == "description") && isString:
			case (k == "instance_usable" || k == "update_repeatable") && isBool:
			default:
				t.Errorf("%s: %d error body has %q=%v, not in the spec's error object", desc, resp.StatusCode, k, v)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // an operation started by mistake would reach the fake by now
	if diff := cmp.Diff(before, snapshot()); diff != "" {
		t.Errorf("the fuzzed requests changed state (-before +after):\n%s", diff)
	}
	b.checkLog(t)
	summary(t, "%d requests (seed %d), statuses %v (%d answered by net/http before the handler), no 5xx, no state change", n, seed, statuses, serverLevel)
}

// serverRefuses reports whether net/http refuses a request for path before
// any handler sees it: a bad escape, or a request line beyond the header
// limit.
func serverRefuses(path string) bool {
	_, err := url.PathUnescape(path)
	return err != nil || len(path) > 64<<10
}

// kindOf is the JSON type of v.
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case int, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}
