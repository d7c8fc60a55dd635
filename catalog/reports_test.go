package catalog

import (
	"context"
	"errors"
	"testing"
)

func testReports(t *testing.T, fresh dbFactory) {
	{
		c := openTest(t, fresh(t), newClock())
		ctx := context.Background()
		mk := func(sop, sha, patient, date string) *Instance {
			return &Instance{Namespace: "clinical", SOPInstanceUID: sop, SHA256: sha, RelPath: "x/" + sha, PatientID: patient,
				StudyInstanceUID: "1.2.3." + patient, StudyDate: date, Size: 10}
		}
		reliable, unreliable := true, false
		a := mk("1.2.3.1", "aa", "P1", "20240105")
		if _, err := c.CommitInstanceReports(ctx, a, nil, []Report{
			{Method: "pSWE", Site: "liver", Reliable: true, Body: []byte(`{"site":"liver"}`)},
			{Method: "pSWE", Site: "spleen", Reliable: false, Body: []byte(`{"site":"spleen"}`)},
		}); err != nil {
			t.Fatal(err)
		}
		b := mk("1.2.3.2", "bb", "P2", "20250301")
		if _, err := c.CommitInstanceReports(ctx, b, nil, []Report{{Method: "TE", Site: "liver", Reliable: true, Body: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		// An identical resend stores no second copy of the reports.
		if res, err := c.CommitInstanceReports(ctx, mk("1.2.3.2", "bb", "P2", "20250301"), nil, []Report{{Method: "TE", Body: []byte(`{}`)}}); err != nil || res.Outcome != Duplicate {
			t.Fatalf("resend: %v %v", res, err)
		}
		cases := []struct {
			name string
			f    ReportFilter
			want []string // sites + patient
		}{
			{"all", ReportFilter{}, []string{"liver P2", "liver P1", "spleen P1"}},
			{"patient", ReportFilter{PatientID: "P1"}, []string{"liver P1", "spleen P1"}},
			{"study", ReportFilter{StudyInstanceUID: "1.2.3.P2"}, []string{"liver P2"}},
			{"dates", ReportFilter{DateFrom: "20240101", DateTo: "20241231"}, []string{"liver P1", "spleen P1"}},
			{"open end", ReportFilter{DateFrom: "20250101"}, []string{"liver P2"}},
			{"method", ReportFilter{Method: "TE"}, []string{"liver P2"}},
			{"reliable", ReportFilter{Reliable: &reliable}, []string{"liver P2", "liver P1"}},
			{"unreliable", ReportFilter{Reliable: &unreliable}, []string{"spleen P1"}},
			{"namespace", ReportFilter{Namespace: "research"}, nil},
			{"paging", ReportFilter{Limit: 1, Offset: 1}, []string{"liver P1"}},
		}
		for _, tc := range cases {
			got, err := c.Reports(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var g []string
			for _, r := range got {
				g = append(g, r.Site+" "+r.PatientID)
			}
			if len(g) != len(tc.want) {
				t.Fatalf("%s: got %q, want %q", tc.name, g, tc.want)
			}
			for i := range g {
				if g[i] != tc.want[i] {
					t.Fatalf("%s: got %q, want %q", tc.name, g, tc.want)
				}
			}
		}
		// An image-only placeholder gives way to a report with values.
		img := mk("1.2.3.7", "cc", "P3", "20250402")
		if _, err := c.CommitInstanceReports(ctx, img, nil, []Report{{Kind: ReportKindImageOnly, Body: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Reports(ctx, ReportFilter{PatientID: "P3"}); len(got) != 1 || got[0].Kind != ReportKindImageOnly {
			t.Fatalf("placeholder: %+v", got)
		}
		sr := mk("1.2.3.8", "dd", "P3", "20250402")
		if _, err := c.CommitInstanceReports(ctx, sr, nil, []Report{{Kind: "sr_standard", Method: "pSWE", Site: "liver", Body: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		img2 := mk("1.2.3.9", "ee", "P3", "20250402")
		if _, err := c.CommitInstanceReports(ctx, img2, nil, []Report{{Kind: ReportKindImageOnly, Body: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Reports(ctx, ReportFilter{PatientID: "P3"}); len(got) != 1 || got[0].Kind != "sr_standard" {
			t.Fatalf("after SR: %+v", got)
		}
		all, _ := c.Reports(ctx, ReportFilter{PatientID: "P1"})
		r, err := c.ReportByID(ctx, all[0].ID)
		if err != nil || string(r.Body) != `{"site":"liver"}` || r.InstanceID != a.ID || r.SOPInstanceUID != "1.2.3.1" {
			t.Fatalf("by id: %+v %v", r, err)
		}
		if _, err := c.ReportByID(ctx, 99999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	}
}
