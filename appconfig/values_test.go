package appconfig

import "testing"

func TestSizeValue(t *testing.T) {
	for in, want := range map[string]int64{"10M": 10 << 20, "512k": 512 << 10, "1G": 1 << 30, "2MB": 2 << 20, "3MiB": 3 << 20, "100": 100} {
		var n int64
		if err := (sizeValue{&n}).Set(in); err != nil || n != want {
			t.Errorf("%q: %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "ten", "1T", "99999999999G"} {
		var n int64
		if err := (sizeValue{&n}).Set(in); err == nil {
			t.Errorf("%q: accepted as %d", in, n)
		}
	}
	n := int64(10 << 20)
	if s := (sizeValue{&n}).String(); s != "10M" {
		t.Errorf("String() = %q", s)
	}
}
