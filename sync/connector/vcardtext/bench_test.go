package vcardtext

import (
	"strings"
	"testing"
)

// photoCard is a card with a 200 KB photo, folded at 75 octets (about 2,700
// continuation lines): unfolding must stay linear.
func photoCard() []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p-1\r\nFN:Pic Ture\r\nN:Ture;Pic;;;\r\n")
	writeFolded(&b, "PHOTO;ENCODING=b;TYPE=JPEG:"+strings.Repeat("QUJDRA", 200000/6), "\r\n")
	b.WriteString("EMAIL:pic@example.com\r\nEND:VCARD\r\n")
	return []byte(b.String())
}

func BenchmarkParsePhoto(b *testing.B) {
	data := photoCard()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c, err := Parse(data)
		if err != nil || c.Value("EMAIL") != "pic@example.com" {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSmall: a card as most are (what a first sync reads 10,000 of).
func BenchmarkParseSmall(b *testing.B) {
	data := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:contact-0000001\r\nFN:Person 1\r\nN:1;Person;;;\r\n" +
		"EMAIL;TYPE=INTERNET:person1@example.com\r\nTEL;TYPE=CELL:+15551234567\r\nBDAY:1970-01-11\r\n" +
		"NOTE:only in this book 1\r\nEND:VCARD\r\n")
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewSmall: a new card written from mapped fields, as a first sync
// writes 10,000 of.
func BenchmarkNewSmall(b *testing.B) {
	fields := map[string]string{"UID": "contact-0000001", "FN": "Person 1", "N": "1;Person;;;",
		"EMAIL": "person1@example.com", "TEL": "+15551234567", "BDAY": "1970-01-11", "NOTE": "only in this book 1"}
	for b.Loop() {
		if data := New("0f8fad5b-d9cb-469f-a165-70867728950e", fields).Bytes(); len(data) < 100 {
			b.Fatal(string(data))
		}
	}
}
