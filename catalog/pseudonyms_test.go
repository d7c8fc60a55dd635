package catalog

import (
	"context"
	"testing"
)

func testPseudonyms(t *testing.T, fresh dbFactory) {
	c := openTest(t, fresh(t), newClock())
	ctx := context.Background()
	if _, found, err := c.LookupPseudonym(ctx, "research", "P1", "Wang^Xiaoming=王^小明"); err != nil || found {
		t.Fatalf("empty: %v %v", found, err)
	}
	e := PseudonymEntry{Profile: "research", RealID: "P1", RealName: "Wang^Xiaoming=王^小明", PseudoID: "ANON-AAAA", PseudoName: "ANON^AAAA"}
	if err := c.SavePseudonym(ctx, e); err != nil {
		t.Fatal(err)
	}
	// A second save for the same patient does not replace the first.
	if err := c.SavePseudonym(ctx, PseudonymEntry{Profile: "research", RealID: "P1", RealName: e.RealName, PseudoID: "ANON-BBBB", PseudoName: "X"}); err != nil {
		t.Fatal(err)
	}
	got, found, err := c.LookupPseudonym(ctx, "research", "P1", e.RealName)
	if err != nil || !found || got.PseudoID != "ANON-AAAA" || got.PseudoName != "ANON^AAAA" {
		t.Fatalf("lookup: %+v %v %v", got, found, err)
	}
	if _, found, _ := c.LookupPseudonym(ctx, "other", "P1", e.RealName); found {
		t.Fatal("pseudonyms leaked across profiles")
	}
	c.SavePseudonym(ctx, PseudonymEntry{Profile: "other", RealID: "P2", RealName: "B", PseudoID: "O-1", PseudoName: "O^1"})
	all, err := c.Pseudonyms(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("all: %v %v", all, err)
	}
	one, err := c.Pseudonyms(ctx, "research")
	if err != nil || len(one) != 1 || one[0].RealName != "Wang^Xiaoming=王^小明" {
		t.Fatalf("research: %+v %v", one, err)
	}
}
