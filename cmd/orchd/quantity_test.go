package main

import "testing"

func TestBytesFlag(t *testing.T) {
	tests := []struct {
		in      string
		zeroOK  bool
		want    int64
		wantErr bool
	}{
		{"128Mi", false, 128 << 20, false},
		{"1G", false, 1_000_000_000, false},
		{"4096", false, 4096, false},
		{"0", false, 0, true},
		{"-1Mi", false, 0, true},
		{"0.5", false, 0, true},
		{"lots", false, 0, true},
		{"0", true, 0, false},
		{"4Gi", true, 4 << 30, false},
		{"-1", true, 0, true},
		{"0.5", true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var n int64
			f := newBytesFlag(&n, 7)
			if tt.zeroOK {
				f = newBytesOrZeroFlag(&n, 7)
			}
			err := f.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				if n != 7 {
					t.Errorf("a refused value changed the flag to %d", n)
				}
				return
			}
			if n != tt.want {
				t.Errorf("Set(%q) = %d, want %d", tt.in, n, tt.want)
			}
		})
	}
	var n int64
	if s := newBytesFlag(&n, 128<<20).String(); s != "128Mi" {
		t.Errorf("String() = %q, want 128Mi", s)
	}
}
