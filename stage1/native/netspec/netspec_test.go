package netspec

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		mode Mode
		reqs []Request
		bad  bool
	}{
		{"host", ModeHost, nil, false},
		{"none", ModeNone, nil, false},
		{"", ModeCNI, []Request{{Name: "default"}}, false},
		{"default", ModeCNI, []Request{{Name: "default"}}, false},
		{"default:IP=172.16.28.42", ModeCNI, []Request{{Name: "default", Args: [][2]string{{"IP", "172.16.28.42"}}}}, false},
		{"default,mynet:A=1;B=2", ModeCNI, []Request{{Name: "default"}, {Name: "mynet", Args: [][2]string{{"A", "1"}, {"B", "2"}}}}, false},
		{"default,host", 0, nil, true},
		{"default,default", 0, nil, true},
		{"default:IP", 0, nil, true},
	} {
		mode, reqs, err := Parse(c.in)
		if (err != nil) != c.bad || (!c.bad && (mode != c.mode || !reflect.DeepEqual(reqs, c.reqs))) {
			t.Errorf("Parse(%q) = %v, %v, %v", c.in, mode, reqs, err)
		}
	}
}

// What `run` sends is what the helper reads, and back.
func TestHelperMessagesRoundTrip(t *testing.T) {
	req := HelperRequest{
		Op: OpSetup, PodDir: "/var/lib/rkt/pods/run/u", UUID: "u", LocalConfig: "/etc/rkt",
		Nets:  []Request{{Name: "default"}, {Name: "mynet", Args: [][2]string{{"IP", "10.1.2.3"}}}},
		Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}},
		Netns: true, Debug: true,
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got HelperRequest
	if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, req) {
		t.Errorf("request round trip: %+v, %v", got, err)
	}
	rep := HelperReply{IP: "172.16.28.2", Gateway: "172.16.28.1", DNS: "nameserver 1.1.1.1\n"}
	b, _ = json.Marshal(rep)
	var gotRep HelperReply
	if err := json.Unmarshal(b, &gotRep); err != nil || gotRep != rep {
		t.Errorf("reply round trip: %+v, %v", gotRep, err)
	}
}
