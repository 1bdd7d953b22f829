package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// maxItemBytes is DynamoDB's item size limit (400 KB: attribute names plus values).
const maxItemBytes = 400 * 1024

// maxPageBytes is the most data one Query or Scan page reads (1 MB).
const maxPageBytes = 1024 * 1024

// item is an item or key as it travels in DynamoDB JSON: attribute name to attribute value.
type item = map[string]json.RawMessage

// itemSize is the size DynamoDB bills and limits an item by: the UTF-8 length of every
// attribute name plus the size of its value (see "Item sizes and formats" in the DynamoDB
// developer guide). An attribute value that cannot be parsed counts its raw JSON length.
func itemSize(it item) int {
	n := 0
	for name, raw := range it {
		n += len(name) + rawValueSize(raw)
	}
	return n
}

func rawValueSize(raw json.RawMessage) int {
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return len(raw)
	}
	return valueSize(v)
}

// valueSize of one decoded attribute value ({"S": "..."}, {"N": "..."}, {"L": [...]}, ...).
func valueSize(v map[string]any) int {
	for typ, x := range v {
		switch typ {
		case "S":
			s, _ := x.(string)
			return len(s)
		case "N":
			s, _ := x.(string)
			return numberSize(s)
		case "B":
			s, _ := x.(string)
			return binarySize(s)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			list, _ := x.([]any)
			n := 0
			for _, e := range list {
				s, _ := e.(string)
				switch typ {
				case "SS":
					n += len(s)
				case "NS":
					n += numberSize(s)
				default:
					n += binarySize(s)
				}
			}
			return n
		case "L":
			// 3 bytes for the list, 1 per element.
			list, _ := x.([]any)
			n := 3
			for _, e := range list {
				m, _ := e.(map[string]any)
				n += 1 + valueSize(m)
			}
			return n
		case "M":
			// 3 bytes for the map, 1 per entry, plus the entries' names.
			m, _ := x.(map[string]any)
			n := 3
			for k, e := range m {
				em, _ := e.(map[string]any)
				n += 1 + len(k) + valueSize(em)
			}
			return n
		}
	}
	return 0
}

// numberSize: 1 byte per two significant digits plus 1 (leading and trailing zeros trimmed).
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Replace(s, ".", "", 1)
	digits = strings.TrimLeft(digits, "0")
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return 1
	}
	return (len(digits)+1)/2 + 1
}

func binarySize(s string) int {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return len(s)
	}
	return len(b)
}
