package catalog

import "reflect"

// deepCopy returns a copy of c that shares no memory with it: every
// slice, map and pointer is copied, including the opaque values inside
// Metadata and Schema maps. Services is never nil in the copy, so the
// copy encodes as {"services":[]} even when c is the zero Catalog.
//
// The copy is generic (reflection) rather than field by field so that
// fields added to the catalog types later are copied too.
func deepCopy(c *Catalog) Catalog {
	out := copyValue(reflect.ValueOf(c).Elem()).Interface().(Catalog)
	if out.Services == nil {
		out.Services = []Service{}
	}
	return out
}

// copyValue returns a deep copy of v. Unexported struct fields are copied
// shallowly (none of the catalog types has any). Values must be acyclic,
// as JSON-encodable values are.
func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(copyValue(v.Elem()))
		return p
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(copyValue(v.Elem()))
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m.SetMapIndex(iter.Key(), copyValue(iter.Value()))
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(copyValue(v.Index(i)))
		}
		return s
	case reflect.Array:
		a := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			a.Index(i).Set(copyValue(v.Index(i)))
		}
		return a
	case reflect.Struct:
		s := reflect.New(v.Type()).Elem()
		s.Set(v)
		for i := range v.NumField() {
			if f := s.Field(i); f.CanSet() {
				f.Set(copyValue(v.Field(i)))
			}
		}
		return s
	default:
		return v
	}
}
