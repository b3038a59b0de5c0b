package config

import (
	"reflect"
	"testing"
)

// Every field of Config has a reload rule: a new field must be sorted into
// live, with the release, or fixed before it can ship.
func TestEveryConfigFieldHasAReloadRule(t *testing.T) {
	typ := reflect.TypeOf(Config{})
	names := map[string]string{}
	for i := range typ.NumField() {
		field := typ.Field(i).Name
		r, ok := reloadRules[field]
		if !ok {
			t.Errorf("Config.%s has no reload rule: add it to reloadRules", field)
			continue
		}
		if r.rule != notAValue {
			if other, dup := names[r.name]; dup || r.name == "" {
				t.Errorf("Config.%s: name %q is empty or also %s's", field, r.name, other)
			}
			names[r.name] = field
		}
	}
	for field := range reloadRules {
		if _, ok := typ.FieldByName(field); !ok {
			t.Errorf("reloadRules names %s, which Config does not have", field)
		}
	}
}
