package main

import (
	"net"
	"net/http"
	"time"

	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// inProgress is how long a stack of the polling phase stays
// CREATE_IN_PROGRESS: longer than any run, so every instance of that phase
// stays in progress and tracked (polled by the broker's Tracker, which
// backs off to 12 times its poll interval) for the whole run. A stack that
// finished would leave its instance untracked, and the polling phase would
// measure a broker with nothing to do but read its store. The throughput
// phase's stacks finish at once (a zero delay) for the opposite reason:
// there, the broker's background polling is work the bare server does not
// do.
const inProgress = 24 * time.Hour

// fakeAWS is the AWS a broker talks to: the scripted fake CloudFormation,
// where every CreateStack stays CREATE_IN_PROGRESS for the same delay and
// then succeeds, and a stub STS answering GetCallerIdentity, which the
// broker calls once at start to check its credentials.
type fakeAWS struct {
	CFN            *provisionertest.CloudFormation
	CFNURL, STSURL string
	servers        []*http.Server
}

func startFakeAWS(stackDelay time.Duration) (*fakeAWS, error) {
	f := &fakeAWS{CFN: provisionertest.New(provisionertest.Options{
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action == "CreateStack" {
				return provisionertest.Script{Delay: stackDelay}
			}
			return provisionertest.Script{}
		},
	})}
	var err error
	if f.CFNURL, err = f.serve(f.CFN); err != nil {
		return nil, err
	}
	if f.STSURL, err = f.serve(http.HandlerFunc(serveSTS)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *fakeAWS) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	f.servers = append(f.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the servers.
func (f *fakeAWS) Close() {
	for _, s := range f.servers {
		_ = s.Close()
	}
}

// stsIdentity is STS's answer to GetCallerIdentity (Query protocol).
const stsIdentity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/loadtest</Arn>
    <UserId>AIDALOADTEST</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>
`

// serveSTS answers GetCallerIdentity, and every other call with STS's
// InvalidAction error.
func serveSTS(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "GetCallerIdentity" {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>loadtest's STS answers GetCallerIdentity only</Message></Error></ErrorResponse>`))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(stsIdentity))
}
