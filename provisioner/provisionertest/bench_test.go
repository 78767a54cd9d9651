package provisionertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// BenchmarkDescribeStacks10k pages through DescribeStacks, 100 stacks a
// page, over 10,000 stacks in CREATE_IN_PROGRESS, through the SDK. One op
// is one page.
func BenchmarkDescribeStacks10k(b *testing.B) {
	f, c := fake(b, provisionertest.Options{DefaultDelay: time.Hour})
	// Seed through the handler directly: the same code path, without 10,000
	// HTTP round trips per benchmark run.
	for i := range 10000 {
		form := url.Values{"Action": {"CreateStack"}, "Version": {"2010-05-15"},
			"StackName": {fmt.Sprintf("stack-%05d", i)}, "TemplateBody": {template}}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("CreateStack: %d %s", rec.Code, rec.Body)
		}
	}
	ctx := context.Background()
	var token *string
	pages, stacks := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{NextToken: token})
		if err != nil {
			b.Fatal(err)
		}
		pages++
		stacks += len(out.Stacks)
		token = out.NextToken
	}
	if pages >= 100 && stacks < 10000 {
		b.Fatalf("%d pages held %d stacks", pages, stacks)
	}
}
