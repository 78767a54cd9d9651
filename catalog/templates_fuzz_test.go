package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/brokerkit/brokerkit/catalog"
)

// FuzzLoadTemplate loads one file's bytes, as YAML or as JSON. LoadTemplates
// must not panic; when it fails, every problem names the file (or no
// file, for problems of the directory); when it succeeds, the catalog
// must index and every plan must have the file as its template.
func FuzzLoadTemplate(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join(awsTemplates, "*.yaml"))
	if err != nil || len(seeds) != 6 {
		f.Fatalf("seeds %v: %v", seeds, err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
	}
	f.Add([]byte(minimal), false)
	f.Add([]byte(shortTags), false)
	f.Add([]byte(withSpec("", "Credentials:\n  Mapping: servicebinding\n  Type: sqs\n  Lifetime: 1h\n  Transforms:\n    - {Op: add, Key: u, Template: '{{.a}}'}\n    - {Op: rename, Key: a, To: b}\n", "")), false)
	f.Add([]byte(`{"Description":"d","Metadata":{"AWS::ServiceBroker::Specification":{"Name":"n","ServicePlans":{"p":{"Description":"p","ParameterValues":{"A":"1"}}}}},"Parameters":{"A":{"Type":"List<Number>","Default":"1,2"}},"Resources":{"R":{"Type":"AWS::IAM::User","Properties":{"UserName":"u"}}}}`), true)

	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		name := "t.yaml"
		if isJSON {
			name = "t.json"
		}
		set, err := catalog.LoadTemplates(fstest.MapFS{name: {Data: data}}, catalog.TemplateOptions{})
		if err != nil {
			var te catalog.TemplateErrors
			if !errors.As(err, &te) || len(te) == 0 {
				t.Fatalf("error %T %v is not a non-empty TemplateErrors", err, err)
			}
			for _, e := range te {
				if e.File != name && e.File != "" || e.Message == "" {
					t.Errorf("problem %+v", e)
				}
			}
			return
		}
		if _, err := catalog.NewIndex(set.Catalog); err != nil {
			t.Fatalf("a loaded catalog does not index: %v", err)
		}
		for _, s := range set.Catalog.Services {
			for _, p := range s.Plans {
				tp := set.Templates[p.ID]
				if tp == nil || tp.Body != string(data) {
					t.Fatalf("plan %s: template %v", p.Name, tp)
				}
			}
		}
	})
}
