package download

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rkt/rkt/common/config"
)

func TestAuthHeaders(t *testing.T) {
	cfg := map[string]config.Auth{
		"basic.example":      {Type: config.AuthBasic, User: "bob", Password: "secret"},
		"oauth.example:5000": {Type: config.AuthOAuth, Token: "tok"},
		"s3.amazonaws.com":   {Type: config.AuthAWS, AccessKeyID: "AK", SecretAccessKey: "SK", AWSRegion: "eu-west-1"},
	}
	h := AuthHeaders(cfg)
	if got := h["basic.example"].Get("Authorization"); got != "Basic Ym9iOnNlY3JldA==" {
		t.Errorf("basic: %q", got)
	}
	if got := h["oauth.example:5000"].Get("Authorization"); got != "Bearer tok" {
		t.Errorf("oauth: %q", got)
	}
	if _, ok := h["s3.amazonaws.com"]; ok || len(h) != 2 {
		t.Errorf("headers = %v", h)
	}
	a := AWSAuth(cfg)
	if len(a) != 1 || a["s3.amazonaws.com"] != (AWSCredentials{AccessKeyID: "AK", SecretAccessKey: "SK", Region: "eu-west-1"}) {
		t.Errorf("aws = %v", a)
	}
	if AuthHeaders(nil) == nil || AWSAuth(nil) == nil {
		t.Error("nil map for empty config")
	}
}

// The expected signatures are from AWS's Signature Version 4 test suite
// (get-vanilla, get-vanilla-query-order-key-case) and the S3 documentation's
// GET Object example.
func TestSignV4Vectors(t *testing.T) {
	suite := AWSCredentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Region: "us-east-1"}
	suiteTime := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, url string
		header    http.Header
		creds     AWSCredentials
		service   string
		at        time.Time
		want      string
	}{
		{
			name: "get-vanilla", url: "https://example.amazonaws.com/",
			creds: suite, service: "service", at: suiteTime,
			want: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		{
			name: "get-vanilla-query-order-key-case", url: "https://example.amazonaws.com/?Param2=value2&Param1=value1",
			creds: suite, service: "service", at: suiteTime,
			want: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
		},
		{
			name: "s3 get object", url: "https://examplebucket.s3.amazonaws.com/test.txt",
			header:  http.Header{"Range": {"bytes=0-9"}},
			creds:   AWSCredentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
			service: "s3", at: time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC),
			want: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			signV4(req, tc.creds, tc.service, tc.at)
			if got := req.Header.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestS3Region(t *testing.T) {
	for host, want := range map[string]string{
		"s3.amazonaws.com":                        "us-east-1",
		"bucket.s3.amazonaws.com":                 "us-east-1",
		"s3.eu-west-1.amazonaws.com":              "eu-west-1",
		"bucket.s3.ap-south-1.amazonaws.com":      "ap-south-1",
		"s3-us-west-2.amazonaws.com":              "us-west-2",
		"s3-external-1.amazonaws.com":             "us-east-1",
		"s3.dualstack.eu-central-1.amazonaws.com": "eu-central-1",
		"images.example.com":                      "us-east-1",
	} {
		if got := s3Region(host); got != want {
			t.Errorf("s3Region(%s) = %s, want %s", host, got, want)
		}
	}
}

func TestAWSSignedDownload(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Write([]byte("blob"))
	}))
	defer ts.Close()
	host := strings.TrimPrefix(ts.URL, "http://")
	opts := Options{AllowHTTP: true, AWS: map[string]AWSCredentials{host: {AccessKeyID: "AK", SecretAccessKey: "SK"}}}
	if _, err := Get(context.Background(), ts.URL+"/bucket/app.aci", partialPath(t), nil, opts); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if a := seen.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AK/") || !strings.Contains(a, "/us-east-1/s3/aws4_request") {
		t.Errorf("Authorization = %q", a)
	}
	if seen.Get("X-Amz-Date") == "" || seen.Get("X-Amz-Content-Sha256") != emptySHA256 {
		t.Errorf("headers = %v", seen)
	}
}
