// Drives a DICOMweb server with the unmodified dicomweb-client package.
// Usage: node client.js <base-url> <study> <series> <sop> <frames-sop-series> <file-to-store>
// Prints one JSON object with what each call returned.
global.XMLHttpRequest = require('xhr2');
const fs = require('fs');
const { api } = require('dicomweb-client');

async function main() {
  const [url, study, series, sop, fStudy, fSeries, fSop, storeFile] = process.argv.slice(2);
  const client = new api.DICOMwebClient({ url, singlepart: false });
  const out = {};
  const studies = await client.searchForStudies({ queryParams: { PatientName: 'CompressedSamples*' } });
  out.studies = studies.map((s) => s['0020000D'].Value[0]);
  out.studyName = studies[0]['00100010'].Value[0];
  const seriesRes = await client.searchForSeries({ studyInstanceUID: study });
  out.series = seriesRes.map((s) => s['0020000E'].Value[0]);
  const inst = await client.searchForInstances({ studyInstanceUID: study, seriesInstanceUID: series });
  out.instances = inst.map((s) => s['00080018'].Value[0]);
  const part10 = await client.retrieveInstance({ studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop });
  out.instanceSHA = require('crypto').createHash('sha256').update(Buffer.from(part10)).digest('hex');
  const md = await client.retrieveStudyMetadata({ studyInstanceUID: study });
  out.metadataSOPs = md.map((m) => m['00080018'].Value[0]);
  out.metadataRows = md[0]['00280010'].Value[0];
  const frames = await client.retrieveInstanceFrames({ studyInstanceUID: fStudy, seriesInstanceUID: fSeries, sopInstanceUID: fSop, frameNumbers: [1, 2] });
  out.frameLengths = frames.map((f) => f.byteLength);
  const data = fs.readFileSync(storeFile);
  const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const stored = await client.storeInstances({ datasets: [ab] });
  out.stored = typeof stored === 'string' ? JSON.parse(stored) : stored;
  process.stdout.write(JSON.stringify(out));
}
main().catch((e) => { console.error('FAILED', e && (e.message || e.status || e), e && e.response); process.exit(1); });
