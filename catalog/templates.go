package catalog

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// TemplateOptions configure [LoadTemplates]. The zero value is ready to
// use.
type TemplateOptions struct {
	// BrokerID seeds the service and plan IDs; default "brokerkit". IDs
	// are name-based UUIDs (version 5, SHA-1), so they depend only on
	// BrokerID and the names, never on the AWS account, and do not change
	// between runs or machines:
	//
	//	namespace  = UUIDv5(6ba7b811-9dad-11d1-80b4-00c04fd430c8, "brokerkit:broker:" + BrokerID)
	//	service ID = UUIDv5(namespace, "service:" + service name)
	//	plan ID    = UUIDv5(namespace, "plan:" + service name + "/" + plan name)
	//
	// (the first UUID is RFC 9562's URL namespace). Two brokers that sell
	// the same templates to one platform need different BrokerIDs.
	BrokerID string
	// IDs overrides the derived IDs, for example to keep the IDs a
	// platform already knows from another broker. A key is a service name
	// ("sqs") or a service and plan name ("sqs/standard"), as the catalog
	// names them; the value is the ID to use. A key that names no service
	// or plan is an error.
	IDs map[string]string
	// Bindable is every service's bindable; default true (the AWS Service
	// Broker's templates create credentials for bindings).
	Bindable *bool
	// Mapping is the credentials Mapping of services whose specification
	// names none and does not set OutputsAsIs. "" is MappingAsIs: the
	// template's output names (QueueURL), which the walkthrough's pod
	// reads. MappingScreamingSnake gives the AWS Service Broker's
	// QUEUE_URL, for applications written against it.
	Mapping string
	// TargetParameters lets users choose the account of an instance: each
	// plan's create schema gets two optional string properties,
	// target_account_id (12 digits) and target_role_name (an IAM role
	// name), which credentials.FromParameters takes out of the request's
	// parameters before the provisioner sees them. Without it the schemas
	// (which allow no other properties) refuse them.
	TargetParameters bool
}

// TemplateSet is what [LoadTemplates] read: the catalog the templates
// describe, and per plan the template that provisions it.
type TemplateSet struct {
	// Catalog has one service per template file, in file name order, with
	// its plans in the order the template lists them. It passes
	// [Catalog.Validate].
	Catalog Catalog
	// Templates holds the template of every plan, by plan ID.
	Templates map[string]*Template
	// BindingTemplates holds, by plan ID, the binding template of every
	// plan of a service whose specification names one (BindingTemplate);
	// plans of other services are absent. Every plan of a service gets
	// the same template, in a Template of its own. Only File, ServiceName,
	// PlanName, Body, ID, Parameters, Capabilities and Outputs are set.
	BindingTemplates map[string]*Template
	// Warnings are problems that did not stop the load, each naming the
	// file and the field, such as an AllowedPattern that is not RE2
	// syntax (left out of the schema; CloudFormation still checks it) or
	// a specification key this loader does not know (ignored).
	Warnings []string
}

// Template is the CloudFormation template of one plan and what a
// provisioner needs to create stacks from it. Plans of one file share the
// body; their Templates share nothing else.
type Template struct {
	// File is the template's name in the directory.
	File string
	// ServiceName and PlanName are the catalog names of the plan.
	ServiceName, PlanName string
	// Body is the file as read, unchanged.
	Body string
	// ID is "sha256:" and the hex SHA-256 of Body: it changes exactly when
	// the body does.
	ID string
	// Parameters are every parameter the template declares, fixed or not.
	Parameters map[string]TemplateParameter
	// FixedParameters are the plan's ParameterValues: values users cannot
	// set (they are absent from the plan's schemas, which allow no other
	// properties) and that a provisioner sends whatever the request holds.
	FixedParameters map[string]string
	// DefaultParameters are the plan's ParameterDefaults: the schema's
	// default for these parameters, which a provisioner should send when
	// the user gives no value (CloudFormation knows only the template's
	// own Default).
	DefaultParameters map[string]string
	// Capabilities are those CloudFormation needs acknowledged:
	// CAPABILITY_NAMED_IAM when an AWS::IAM:: resource sets a custom name
	// (UserName, RoleName, GroupName, ManagedPolicyName or
	// InstanceProfileName), else CAPABILITY_IAM when there is any AWS::IAM::
	// resource; and CAPABILITY_AUTO_EXPAND when the template uses a
	// Transform (macros, AWS::Serverless). Nested stacks are not looked
	// into.
	Capabilities []string
	// Outputs are the names of the template's outputs, in template order.
	Outputs []string
	// UpdatableParameters are the template's UpdatableParameters that the
	// plan does not fix: the only parameters an update may change.
	UpdatableParameters []string
	// OutputsAsIs is the specification's OutputsAsIs: the AWS Service
	// Broker returned such outputs as credentials under their own names
	// instead of renaming them.
	OutputsAsIs bool
}

// TemplateParameter is one parameter a template declares.
type TemplateParameter struct {
	// Type is the CloudFormation type as written: "String", "Number",
	// "CommaDelimitedList", "List<Number>", "AWS::EC2::VPC::Id", ...
	Type string `json:"type"`
	// Description, Label and Group come from the parameter and from the
	// AWS::CloudFormation::Interface metadata (ParameterLabels and the
	// label of the ParameterGroups entry that lists the parameter).
	Description string `json:"description,omitempty"`
	Label       string `json:"label,omitempty"`
	Group       string `json:"group,omitempty"`
	// Default is the template's Default in its JSON type (a string, a
	// json.Number for Number, a []any for list types), or nil when the
	// template gives none.
	Default any `json:"default,omitempty"`
	// NoEcho marks a secret.
	NoEcho bool `json:"noEcho,omitempty"`
	// AllowedValues are in the JSON type of the parameter's values (of
	// its items, for list types).
	AllowedValues []any `json:"allowedValues,omitempty"`
	// AllowedPattern is as written (CloudFormation matches it against the
	// whole value).
	AllowedPattern string `json:"allowedPattern,omitempty"`
	// MinLength and MaxLength are nil when not set.
	MinLength *int `json:"minLength,omitempty"`
	MaxLength *int `json:"maxLength,omitempty"`
	// MinValue and MaxValue are "" when not set.
	MinValue json.Number `json:"minValue,omitempty"`
	MaxValue json.Number `json:"maxValue,omitempty"`
	// ConstraintDescription is what CloudFormation says when a constraint
	// fails.
	ConstraintDescription string `json:"constraintDescription,omitempty"`
}

// TemplateError is one problem that stops [LoadTemplates].
type TemplateError struct {
	// File is the template's file name; empty for problems of the
	// directory or the options.
	File string
	// Field is the path of the offending field in the template, keys
	// joined with dots and list indexes in brackets, as in
	// "Metadata.AWS::ServiceBroker::Specification.ServicePlans.standard.ParameterValues.Nope";
	// empty for problems of the whole file.
	Field string
	// Message says what is wrong.
	Message string
}

// Error returns "catalog: " + File + ": " + Field + ": " + Message,
// leaving out the empty parts.
func (e *TemplateError) Error() string {
	var b strings.Builder
	b.WriteString("catalog: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// TemplateErrors is every problem [LoadTemplates] found, file by file. It
// is never empty when returned as an error.
type TemplateErrors []*TemplateError

// Error returns each problem's Error, one a line.
func (es TemplateErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that [errors.As] finds the first
// *TemplateError.
func (es TemplateErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxTemplateBody is the most CloudFormation accepts as a TemplateBody.
const maxTemplateBody = 51200

// LoadTemplates reads every *.yaml, *.yml and *.json file at the top of
// fsys (names starting with "." and subdirectories are skipped;
// extensions are matched in any case) as a CloudFormation template carrying the AWS Service
// Broker's Metadata "AWS::ServiceBroker::Specification", and returns the
// catalog they describe and, per plan, what a provisioner needs. YAML may
// use CloudFormation's short tags (!Ref, !GetAtt, !Sub, !If, ...); YAML
// aliases, which CloudFormation rejects, are refused. Files are read as
// they are, never modified.
//
// Each file is one service:
//
//   - its name is the specification's Name, and each plan's name is its
//     key under ServicePlans, made CLI-friendly if needed (each run of
//     characters other than letters, digits, periods and hyphens becomes
//     a hyphen, with a warning); its IDs are derived as
//     [TemplateOptions].BrokerID says;
//   - its description is the template's Description without the AWS
//     Quick Start tag "(qs-…)", or DisplayName when there is none; Tags
//     are its tags; DisplayName, LongDescription, ImageUrl,
//     DocumentationUrl, ProviderDisplayName and SupportUrl go to the
//     metadata keys of the OSB profile (displayName, longDescription,
//     imageUrl, documentationUrl, providerDisplayName, supportUrl);
//   - a plan's Description is its description; DisplayName,
//     LongDescription and Bullets go to metadata displayName,
//     longDescription and bullets; Costs ([{Amount: {usd: 0.5}, Unit:
//     MONTHLY}]) to the profile's "costs"; Cost, the AWS Service Broker's
//     pricing link, to "costUrl" when it is an http(s) URL and to "cost"
//     otherwise. Plans are not free (AWS resources cost money).
//
// Each service also gets a [Service].Credentials, never nil, saying how
// its bindings' credentials are built from the stack outputs. The
// specification's Credentials key, which is brokerkit's own, sets it:
//
//	Credentials:
//	  Mapping: servicebinding  # as-is, screaming-snake or servicebinding
//	  Type: sqs                # the servicebinding.io type and provider
//	  Provider: aws
//	  Lifetime: 720h           # a Go duration: bindings expire after it
//	  Transforms:              # applied in order, after the mapping
//	    - {Op: rename, Key: queue-url, To: uri}
//	    - {Op: add, Key: region, Value: us-east-1}
//	    - {Op: add, Key: endpoint, Template: "{{.uri}}?region={{.region}}"}
//	    - {Op: remove, Key: queue-arn}
//
// Every key is optional, unknown keys are errors, and the rules are those
// of [Catalog.Validate]. Without a Mapping, as without the whole key, the
// service gets TemplateOptions.Mapping (as-is unless set), or as-is when
// the specification's OutputsAsIs is true. OutputsAsIs true with another
// Mapping is an error.
//
// The specification's BindingTemplate key, brokerkit's own too, names a
// CloudFormation template that each binding of the service's instances
// provisions (for example an IAM user with a policy on the instance's
// resources; see broker.TrackedBindings):
//
//	BindingTemplate: bindings/sqs.yaml
//
// It is a slash-separated path inside fsys, usually in a subdirectory,
// since every file at the top is a service. The binding template is read
// like a plan's (Body, ID, Parameters, Capabilities, Outputs), needs no
// specification, and is returned in [TemplateSet].BindingTemplates for
// every plan of the service. Each of its parameters must be an output of
// the service's template, since they are filled from the instance's
// outputs; a parameter that is not is an error naming the binding
// template's file and the parameter:
//
//	catalog: bindings/sqs.yaml: Parameters.TopicARN: not an output of sqs.yaml's template: ...
//
// A BindingTemplate that does not exist, or is not a relative path to a
// *.yaml, *.yml or *.json file, is an error naming the service's file.
//
// Each plan has a service_instance.create schema (JSON Schema draft-07)
// with a property per template parameter the plan does not fix
// (ParameterValues), and no other properties allowed:
//
//   - String and AWS-specific types are "string"; Number is "integer"
//     when every number the template and plan give for it (Default,
//     AllowedValues, MinValue, MaxValue, the plan's default) is whole and
//     there is at least one, else "number"; CommaDelimitedList and
//     List<…> accept an array (of numbers for List<Number>) or the
//     comma-separated string, their constraints applying to the items;
//   - AllowedValues is "enum", AllowedPattern "pattern" (anchored, since
//     CloudFormation matches the whole value), MinLength/MaxLength
//     "minLength"/"maxLength", MinValue/MaxValue "minimum"/"maximum";
//   - "default" is the plan's ParameterDefaults value if any, else the
//     template's Default, in the parameter's JSON type (5, not "5"); a
//     parameter with neither is "required" (including those only the
//     operator knows, such as a VPC ID: users must supply them);
//   - "title" is the Interface label and "description" the parameter's
//     Description; NoEcho parameters are "writeOnly": true, which
//     [Plan.SecretParameters] reads, and their defaults are not published
//     (the catalog is readable by every platform user).
//
// With [TemplateOptions].TargetParameters, each create schema also has the
// optional string properties target_account_id and target_role_name.
//
// Each plan also has a service_instance.update schema with the same
// properties, without defaults or required ones, for the parameters in
// UpdatableParameters only: a template that lists none gets an update
// schema that allows no parameters, as the AWS Service Broker allowed
// updates only of listed parameters.
//
// Parameters the AWS Service Broker filled in itself (its region, target
// account and tag parameters) were not template parameters and are not
// supported; template parameters are all treated alike.
//
// Every value the specification gives a parameter (template Default,
// ParameterValues, ParameterDefaults) is checked against the parameter's
// type and constraints, as CloudFormation would when creating a stack.
// Specification keys this loader does not know, and the AWS Service
// Broker's Bindings and Version, are ignored (unknown ones with a
// warning).
//
// The error, if any, is [TemplateErrors]: every problem of every file,
// each naming the file and the field:
//
//	catalog: sqs.yaml: Metadata.AWS::ServiceBroker::Specification.ServicePlans.standard.ParameterValues.Nope: not a template parameter
//
// A file without the specification is an error, as are two files with
// the same service name, a template body larger than CloudFormation's
// 51,200-byte TemplateBody limit, and a directory with no templates.
// LoadTemplates never panics on bad input.
func LoadTemplates(fsys fs.FS, opts TemplateOptions) (*TemplateSet, error) {
	if opts.BrokerID == "" {
		opts.BrokerID = "brokerkit"
	}
	bindable := true
	if opts.Bindable != nil {
		bindable = *opts.Bindable
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, TemplateErrors{{Message: "reading the templates directory: " + err.Error()}}
	}
	var errs TemplateErrors
	var warnings []string
	var files []*parsedFile
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(path.Ext(name))
		if e.IsDir() || strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, &TemplateError{File: name, Message: "reading the file: " + err.Error()})
			continue
		}
		p := &fileLoader{file: name, defaultMapping: opts.Mapping, targetParameters: opts.TargetParameters, broken: map[string]bool{}}
		pf := p.load(data, ext == ".json", bindable)
		errs = append(errs, p.errs...)
		warnings = append(warnings, p.warnings...)
		if pf == nil || len(p.errs) > 0 {
			continue
		}
		if pf.bindingPath != "" {
			bt, berrs, bwarns := loadBinding(fsys, name, pf.bindingPath, pf.outputs)
			errs = append(errs, berrs...)
			warnings = append(warnings, bwarns...)
			if bt == nil {
				continue
			}
			pf.binding = bt
		}
		files = append(files, pf)
	}
	if len(errs) == 0 && len(files) == 0 {
		return nil, TemplateErrors{{Message: "no templates (*.yaml, *.yml or *.json files) in the directory"}}
	}

	// Names across files.
	byName := map[string]*parsedFile{}
	for _, pf := range files {
		if first, ok := byName[pf.service.Name]; ok {
			errs = append(errs, &TemplateError{File: pf.file, Field: specPath + ".Name",
				Message: fmt.Sprintf("service name %q is also the name of %s's service", pf.service.Name, first.file)})
			continue
		}
		byName[pf.service.Name] = pf
	}

	// IDs, with overrides.
	ns := uuidV5(nameSpaceURL, "brokerkit:broker:"+opts.BrokerID)
	used := map[string]bool{}
	id := func(key, derived string) string {
		if v, ok := opts.IDs[key]; ok {
			used[key] = true
			return v
		}
		return derived
	}
	for _, pf := range files {
		s := &pf.service
		s.ID = id(s.Name, uuidString(uuidV5(ns, "service:"+s.Name)))
		for i := range s.Plans {
			p := &s.Plans[i]
			p.ID = id(s.Name+"/"+p.Name, uuidString(uuidV5(ns, "plan:"+s.Name+"/"+p.Name)))
		}
	}
	for _, k := range sortedKeys(opts.IDs) {
		switch {
		case !used[k] && len(errs) == 0: // else it may name a service that failed to load
			errs = append(errs, &TemplateError{Field: fmt.Sprintf("TemplateOptions.IDs[%q]", k), Message: "names no service or plan of the templates (keys are \"service\" or \"service/plan\")"})
		case opts.IDs[k] == "":
			errs = append(errs, &TemplateError{Field: fmt.Sprintf("TemplateOptions.IDs[%q]", k), Message: "must not be empty"})
		}
	}

	// Each service on its own, so that problems name their file.
	for _, pf := range files {
		one := Catalog{Services: []Service{pf.service}}
		if err := one.Validate(); err != nil {
			prefix := elemPath("services", 0, pf.service.Name, pf.service.ID)
			for _, ve := range err.(ValidationErrors) {
				field := strings.TrimPrefix(strings.TrimPrefix(ve.Path, prefix), ".")
				errs = append(errs, &TemplateError{File: pf.file, Field: "(catalog) " + field, Message: ve.Message})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}

	set := &TemplateSet{Templates: map[string]*Template{}, BindingTemplates: map[string]*Template{}, Warnings: warnings}
	set.Catalog.Services = make([]Service, 0, len(files))
	for _, pf := range files {
		set.Catalog.Services = append(set.Catalog.Services, pf.service)
		for i, p := range pf.service.Plans {
			set.Templates[p.ID] = pf.templates[i]
			if pf.binding != nil {
				set.BindingTemplates[p.ID] = pf.binding.forPlan(pf.service.Name, p.Name)
			}
		}
	}
	// Across services only IDs can clash now (through overrides).
	if err := set.Catalog.Validate(); err != nil {
		for _, ve := range err.(ValidationErrors) {
			errs = append(errs, &TemplateError{Field: "(catalog) " + ve.Path, Message: ve.Message})
		}
		return nil, errs
	}
	return set, nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
