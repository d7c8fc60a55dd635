// Command dwgen generates synthetic ultrasound instances for the DICOMweb
// benchmark (bench/dicomweb/run.sh) and measures a DICOMweb server with them.
//
//	dwgen stow    -url BASE -n N [-from K] [-per-request 50] [-conc 2]
//	    STOW-RS N generated instances (instance numbers K..K+N-1) to BASE/studies,
//	    per-request instances per multipart body; prints files/s as JSON.
//	dwgen qido    -url BASE -studies S [-n 50]
//	    runs a fixed set of QIDO-RS queries over data generated with S studies,
//	    n times each, sequentially on one keep-alive connection; prints p50/p95 ms.
//	dwgen catalog -data DIR -n N [-from K]
//	    commits N generated instances straight into the sonogate data directory DIR
//	    (catalog.CommitInstance; one real file is put in the store and every row
//	    points at it: the QIDO measurements read no files).
//
// Instance i belongs to study i/10 and series (i/5)%2; study s has patient
// P%06d (s/2), name NAME%06d^GIVEN, date 2015-01-01 plus (s*37)%3650 days
// (so that 1,000 studies already spread over the ten years the date
// queries draw from; 37 is prime to 3650, so the first 3,650 studies have
// distinct dates), modality US (series 1) or SR (series 2).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/store"
)

const root = "1.2.826.0.1.3680043.10.1137"

type inst struct {
	study, series, sop, patID, patName, date, tm, mod string
	seriesNo, instNo                                  int
}

func gen(i int) inst {
	s := i / 10
	se := (i / 5) % 2
	d := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (s*37)%3650)
	mod := "US"
	if se == 1 {
		mod = "SR"
	}
	return inst{
		study:   fmt.Sprintf("%s.%d", root, s+1),
		series:  fmt.Sprintf("%s.%d.%d", root, s+1, se+1),
		sop:     fmt.Sprintf("%s.%d.%d.%d", root, s+1, se+1, i%5+1),
		patID:   fmt.Sprintf("P%06d", s/2),
		patName: fmt.Sprintf("NAME%06d^GIVEN", s/2),
		date:    d.Format("20060102"),
		tm:      fmt.Sprintf("%02d%02d00", 8+s%10, s%60),
		mod:     mod, seriesNo: se + 1, instNo: i%5 + 1,
	}
}

const usImage = "1.2.840.10008.5.1.4.1.1.6.1"

// encode returns a Part 10 file: explicit VR little endian, an 8x8
// MONOCHROME2 image.
func encode(in inst) []byte {
	var b bytes.Buffer
	b.Write(dcm.EncodeFileMeta(dcm.FileMeta{MediaStorageSOPClassUID: usImage, MediaStorageSOPInstanceUID: in.sop,
		TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID, ImplementationClassUID: root + ".0.1", ImplementationVersionName: "DWGEN"}))
	w := dcm.NewWriter(&b, dcm.ExplicitVRLittleEndian)
	t := dcm.NewTag
	us := func(v uint16) []byte { return []byte{byte(v), byte(v >> 8)} }
	w.WriteString(t(0x0008, 0x0005), dcm.CS, "ISO_IR 192")
	w.WriteString(t(0x0008, 0x0016), dcm.UI, usImage)
	w.WriteString(t(0x0008, 0x0018), dcm.UI, in.sop)
	w.WriteString(t(0x0008, 0x0020), dcm.DA, in.date)
	w.WriteString(t(0x0008, 0x0030), dcm.TM, in.tm)
	w.WriteString(t(0x0008, 0x0050), dcm.SH, "ACC"+in.study[len(root)+1:])
	w.WriteString(t(0x0008, 0x0060), dcm.CS, in.mod)
	w.WriteString(t(0x0008, 0x0070), dcm.LO, "dwgen")
	w.WriteString(t(0x0008, 0x0090), dcm.PN, "")
	w.WriteString(t(0x0008, 0x1030), dcm.LO, "synthetic study")
	w.WriteString(t(0x0010, 0x0010), dcm.PN, in.patName)
	w.WriteString(t(0x0010, 0x0020), dcm.LO, in.patID)
	w.WriteString(t(0x0010, 0x0030), dcm.DA, "19700101")
	w.WriteString(t(0x0010, 0x0040), dcm.CS, "O")
	w.WriteString(t(0x0020, 0x000D), dcm.UI, in.study)
	w.WriteString(t(0x0020, 0x000E), dcm.UI, in.series)
	w.WriteString(t(0x0020, 0x0010), dcm.SH, "1")
	w.WriteString(t(0x0020, 0x0011), dcm.IS, fmt.Sprint(in.seriesNo))
	w.WriteString(t(0x0020, 0x0013), dcm.IS, fmt.Sprint(in.instNo))
	w.WriteValue(t(0x0028, 0x0002), dcm.US, us(1))
	w.WriteString(t(0x0028, 0x0004), dcm.CS, "MONOCHROME2")
	w.WriteValue(t(0x0028, 0x0010), dcm.US, us(8))
	w.WriteValue(t(0x0028, 0x0011), dcm.US, us(8))
	w.WriteValue(t(0x0028, 0x0100), dcm.US, us(8))
	w.WriteValue(t(0x0028, 0x0101), dcm.US, us(8))
	w.WriteValue(t(0x0028, 0x0102), dcm.US, us(7))
	w.WriteValue(t(0x0028, 0x0103), dcm.US, us(0))
	w.WriteValue(t(0x7FE0, 0x0010), dcm.OW, bytes.Repeat([]byte{byte(len(in.sop))}, 64))
	if w.Err() != nil {
		panic(w.Err())
	}
	return b.Bytes()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dwgen stow|qido|catalog ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	url := fs.String("url", "", "DICOMweb base URL")
	n := fs.Int("n", 1000, "instances (stow, catalog) or requests per query (qido)")
	from := fs.Int("from", 0, "first instance number")
	per := fs.Int("per-request", 50, "instances per STOW-RS request")
	conc := fs.Int("conc", 2, "concurrent STOW-RS requests")
	studies := fs.Int("studies", 1000, "studies in the data (qido)")
	data := fs.String("data", "", "sonogate data directory (catalog)")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "stow":
		err = stow(*url, *from, *n, *per, *conc)
	case "qido":
		err = qido(*url, *studies, *n)
	case "catalog":
		err = fill(*data, *from, *n)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dwgen:", err)
		os.Exit(1)
	}
}

func stow(base string, from, n, per, conc int) error {
	type body struct {
		b        []byte
		boundary string
	}
	var bodies []body
	for i := from; i < from+n; i += per {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for j := i; j < i+per && j < from+n; j++ {
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", "application/dicom")
			p, _ := mw.CreatePart(h)
			p.Write(encode(gen(j)))
		}
		mw.Close()
		bodies = append(bodies, body{buf.Bytes(), mw.Boundary()})
	}
	client := &http.Client{Timeout: 10 * time.Minute}
	var next, bad atomic.Int64
	var bytesSent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(bodies) {
					return
				}
				req, _ := http.NewRequest("POST", base+"/studies", bytes.NewReader(bodies[k].b))
				req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+bodies[k].boundary)
				req.Header.Set("Accept", "application/dicom+json")
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
					fmt.Fprintf(os.Stderr, "STOW-RS body %d: %s\n", k, resp.Status)
				}
				bytesSent.Add(int64(len(bodies[k].b)))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"instances": n, "requests": len(bodies), "failed_requests": bad.Load(),
		"seconds": el, "files_per_s": float64(n) / el, "mb_per_s": float64(bytesSent.Load()) / el / 1e6, "per_request": per, "concurrency": conc})
}

type query struct{ name, path string }

func queries(studies int, rng *rand.Rand) []func() query {
	st := func() int { return rng.Intn(studies) }
	return []func() query{
		func() query { return query{"PatientID exact", fmt.Sprintf("/studies?PatientID=P%06d", st()/2)} },
		func() query {
			return query{"PatientName prefix*", fmt.Sprintf("/studies?PatientName=NAME%05d*", st()/20)}
		},
		func() query {
			d := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.Intn(3600))
			return query{"StudyDate 7-day range", fmt.Sprintf("/studies?StudyDate=%s-%s", d.Format("20060102"), d.AddDate(0, 0, 6).Format("20060102"))}
		},
		func() query {
			return query{"StudyInstanceUID", fmt.Sprintf("/studies?StudyInstanceUID=%s.%d", root, st()+1)}
		},
		func() query { return query{"series of a study", fmt.Sprintf("/studies/%s.%d/series", root, st()+1)} },
		func() query {
			return query{"instances of a study", fmt.Sprintf("/studies/%s.%d/instances", root, st()+1)}
		},
		func() query { return query{"AccessionNumber", fmt.Sprintf("/studies?AccessionNumber=ACC%d", st()+1)} },
		func() query { return query{"all studies limit=100", "/studies?limit=100"} },
		func() query {
			d := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.Intn(3600))
			return query{"ModalitiesInStudy=SR + 30-day range", fmt.Sprintf("/studies?ModalitiesInStudy=SR&StudyDate=%s-%s", d.Format("20060102"), d.AddDate(0, 0, 29).Format("20060102"))}
		},
	}
}

func qido(base string, studies, n int) error {
	rng := rand.New(rand.NewSource(1))
	client := &http.Client{Timeout: 2 * time.Minute}
	type res struct {
		P50, P95, Max float64
		Errors, N     int
		MedianHits    int
	}
	out := map[string]res{}
	var order []string
	for _, mk := range queries(studies, rng) {
		var lat []float64
		var hits []int
		errs := 0
		name := mk().name
		for k := 0; k < n+3; k++ {
			q := mk()
			req, _ := http.NewRequest("GET", base+q.path, nil)
			req.Header.Set("Accept", "application/dicom+json")
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				errs++
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(t0).Seconds() * 1000
			if resp.StatusCode != 200 && resp.StatusCode != 204 {
				errs++
				continue
			}
			var arr []json.RawMessage
			json.Unmarshal(b, &arr)
			if k >= 3 { // warm-up
				lat = append(lat, d)
				hits = append(hits, len(arr))
			}
		}
		sort.Float64s(lat)
		sort.Ints(hits)
		r := res{Errors: errs, N: len(lat)}
		if len(lat) > 0 {
			r.P50, r.P95, r.Max = pct(lat, 50), pct(lat, 95), lat[len(lat)-1]
			r.MedianHits = hits[len(hits)/2]
		}
		out[name] = r
		order = append(order, name)
	}
	for _, k := range order {
		r := out[k]
		fmt.Printf("%-40s p50 %8.2f ms  p95 %8.2f ms  max %8.2f  hits %d  n %d  errors %d\n", k, r.P50, r.P95, r.Max, r.MedianHits, r.N, r.Errors)
	}
	return nil
}

func pct(xs []float64, p float64) float64 {
	k := float64(len(xs)-1) * p / 100
	f := int(k)
	c := f + 1
	if c >= len(xs) {
		c = len(xs) - 1
	}
	return xs[f] + (xs[c]-xs[f])*(k-float64(f))
}

func fill(dir string, from, n int) error {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(dir, "objects"))
	if err != nil {
		return err
	}
	cat, err := catalog.OpenSQLite(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		return err
	}
	defer cat.Close()
	// One real file, referenced by every generated row.
	first := encode(gen(from))
	sp, err := st.Spool(nil, bytes.NewReader(first))
	if err != nil {
		return err
	}
	rel, err := st.Commit(sp, store.NamespaceClinical)
	if err != nil {
		return err
	}
	start := time.Now()
	// 16 concurrent committers, as many receivers would be: the catalog's
	// group commit merges their commits into shared transactions.
	var next atomic.Int64
	next.Store(int64(from))
	errc := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= from+n {
					return
				}
				g := gen(i)
				in := &catalog.Instance{Namespace: "clinical", SOPInstanceUID: g.sop, SOPClassUID: usImage,
					StudyInstanceUID: g.study, SeriesInstanceUID: g.series, PatientID: g.patID, PatientName: g.patName,
					PatientBirthDate: "19700101", PatientSex: "O", StudyDate: g.date, StudyTime: g.tm,
					AccessionNumber: "ACC" + g.study[len(root)+1:], StudyDescription: "synthetic study", StudyID: "1",
					Modality: g.mod, SeriesNumber: g.seriesNo, InstanceNumber: g.instNo, TransferSyntaxUID: dcm.ExplicitVRLittleEndian.UID,
					SpecificCharacterSet: "ISO_IR 192", Manufacturer: "dwgen", Rows: 8, Columns: 8,
					RelPath: rel, SHA256: fmt.Sprintf("%064x", i+1), Size: sp.Size, DataOffset: sp.DataOffset}
				if _, err := cat.CommitInstance(ctx, in, nil); err != nil {
					errc <- fmt.Errorf("instance %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"committed": n, "seconds": el, "rows_per_s": float64(n) / el})
}
