package binding

// OSB returns the credentials object of an OSB bind response: a new
// map[string]any of strings, ready for broker.Credentials.
func OSB(c Credentials) map[string]any { return c.Object() }

// KubernetesSecretData returns the data of a Kubernetes Secret holding c:
// a new map of the values as bytes (the API server base64-encodes them on
// the wire).
func KubernetesSecretData(c Credentials) map[string][]byte {
	out := make(map[string][]byte, c.Len())
	for k, v := range c.All() {
		out[k] = []byte(v)
	}
	return out
}

// ServiceBindingSecret returns the data and type of a Secret following
// the Service Binding specification for Kubernetes (servicebinding.io):
// c's entries with the "type" entry set to typ and, when provider is not
// "", the "provider" entry set to provider (both replace entries of the
// same name in c, as the spec's ServiceBinding .spec.type and
// .spec.provider do), and the Secret type "servicebinding.io/<type>".
//
// When typ is "", c's own "type" entry is used; when there is none
// either, the data has no type entry and secretType is "Opaque", since
// the spec requires one.
func ServiceBindingSecret(c Credentials, typ, provider string) (data map[string][]byte, secretType string) {
	data = KubernetesSecretData(c)
	if typ == "" {
		typ, _ = c.Value("type")
	}
	if typ == "" {
		return data, "Opaque"
	}
	data["type"] = []byte(typ)
	if provider != "" {
		data["provider"] = []byte(provider)
	}
	return data, "servicebinding.io/" + typ
}
