package chatapi

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseRawForm: the raw bodies of §4.2, as the dydu chatbox sends them, and bad ones.
func TestParseRawForm(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       map[string]string
	}{
		{"as sent [observed]", "solutionUsed=LIVECHAT&format=JSon&space=Defaut&contextUuid=0123abcd&language=fr&lastPoll=1735725600000",
			map[string]string{"solutionUsed": "LIVECHAT", "format": "JSon", "space": "Defaut", "contextUuid": "0123abcd", "language": "fr", "lastPoll": "1735725600000"}},
		{"null is empty", "contextUuid=null&lastPoll=null", map[string]string{"contextUuid": "", "lastPoll": ""}},
		{"raw spaces and accents", "space=Espace clients éte&lastPoll=1", map[string]string{"space": "Espace clients éte", "lastPoll": "1"}},
		{"& and = inside a value", "space=Tom & Jerry = friends&lastPoll=2", map[string]string{"space": "Tom & Jerry = friends", "lastPoll": "2"}},
		{"percent-encoded anyway", "space=Mon%20espace&lastPoll=3", map[string]string{"space": "Mon espace", "lastPoll": "3"}},
		{"a bad percent stays", "space=100%&lastPoll=4", map[string]string{"space": "100%", "lastPoll": "4"}},
		{"plus stays a plus", "space=a+b", map[string]string{"space": "a+b"}},
		{"a key inside another", "xlastPoll=5&lastPoll=6", map[string]string{"lastPoll": "6"}},
		{"unknown keys belong to the value before", "language=fr&junk=1&lastPoll=7", map[string]string{"language": "fr&junk=1", "lastPoll": "7"}},
		{"first of a repeated key", "lastPoll=8&lastPoll=9", map[string]string{"lastPoll": "8&lastPoll=9"}},
		{"empty body", "", map[string]string{}},
		{"no value", "lastPoll=", map[string]string{"lastPoll": ""}},
		{"key without =", "lastPoll", map[string]string{}},
		{"not UTF-8", "space=\xff\xfe&lastPoll=10", map[string]string{"space": "\uFFFD", "lastPoll": "10"}},
		{"percent-encoding of bad UTF-8 stays", "space=%ff&lastPoll=11", map[string]string{"space": "%ff", "lastPoll": "11"}},
		{"only ampersands", "&&&&", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseRawForm(tc.body, pollKeys)
			if !maps.Equal(got, tc.want) {
				t.Errorf("parseRawForm(%q) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

// FuzzParseRawForm: any body parses without panicking into valid UTF-8 values of expected
// keys, and a body joined from values without "&key=" in them comes back as it was.
func FuzzParseRawForm(f *testing.F) {
	f.Add("solutionUsed=LIVECHAT&format=JSon&space=Defaut&contextUuid=c&language=fr&lastPoll=1", "Defaut")
	f.Add("space=a&b=c&&=&lastPoll=%zz", "Tom & Jerry")
	f.Add("\xff=\x00&space=null", "null")
	f.Fuzz(func(t *testing.T, body, space string) {
		got := parseRawForm(body, pollKeys)
		for k, v := range got {
			if !utf8.ValidString(v) {
				t.Fatalf("value of %s is not UTF-8: %q", k, v)
			}
			if !strings.Contains(strings.Join(pollKeys, " "), k) {
				t.Fatalf("unexpected key %q", k)
			}
		}
		if !utf8.ValidString(space) || strings.Contains(space, "%") || space == "null" {
			return
		}
		for _, k := range pollKeys {
			if strings.Contains(space, "&"+k+"=") || strings.HasPrefix(space, k+"=") {
				return
			}
		}
		rt := parseRawForm("space="+space+"&lastPoll=12", pollKeys)
		if rt["space"] != space || rt["lastPoll"] != "12" {
			t.Fatalf("round trip of %q: %q", space, rt)
		}
	})
}

// TestDyduSafe: what livechatValues sends survives the dydu chatbox's second decoding, short
// ASCII texts included; the marker is added only when needed.
func TestDyduSafe(t *testing.T) {
	for _, tc := range []struct {
		in     string
		marked bool
	}{
		{"dydu", true}, {"OK", true}, {"Yes", false}, {"abcd", false}, {"Merci", false}, {"Anna1234", false}, {"Bob", false},
		{"<p>dydu</p>", false}, {"Zoé", false}, {"", false}, {"OperatorWritingStatus", false},
		{"NAAutoCloseDialog", false}, {"OPRegularOperatorAnswer", false}, {"OperatorConnected", false},
		{"DialogTransferredManually", false}, {"DialogTransferredAutomatically", false}, {"OperatorDisconnected", false},
		{"DMLiveChatLeaveQueue", false}, {"EndPolling", false}, {"LeaveWaitingQueue", false},
		{"NAAutoCloseDialogBecauseUserLeft", false}, {"DMLiveChatConnectionInQueue", false},
	} {
		got := dyduSafe(tc.in)
		if marked := got != tc.in; marked != tc.marked {
			t.Errorf("dyduSafe(%q) marked %v, want %v", tc.in, marked, tc.marked)
		}
		if back := strings.TrimSuffix(SecondDecode(got), "\u200b"); back != tc.in {
			t.Errorf("%q comes out of the second decoding as %q", tc.in, back)
		}
	}
}
