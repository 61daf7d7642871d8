package jsonscan

import "testing"

func members(b *testing.B, data []byte) []Member {
	ms, err := Members(data)
	if err != nil {
		b.Fatal(err)
	}
	return ms
}

func elements(b *testing.B, data []byte) int {
	els, err := Elements(data)
	if err != nil {
		b.Fatal(err)
	}
	return len(els)
}

func unquote(b *testing.B, raw []byte) string {
	s, err := Unquote(raw)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
