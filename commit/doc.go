// Package commit is sonogate's Storage Commitment Push Model SCP (PS3.4
// Annex J, SOP Class 1.2.840.10008.1.20.1, well-known instance
// 1.2.840.10008.1.20.1.1).
//
// It sits between dimse (which decodes N-ACTION-RQ and sends
// N-EVENT-REPORT-RQ) and catalog (which holds the requests and says what
// is stored and delivered). A request is persisted before the N-ACTION-RSP
// Success goes out, so it survives a restart; Manager.Run then decides each
// referenced instance:
//
//   - committed when the instance is stored in the catalog under the
//     requested SOP class, or, with Config.AfterDeliveryTo, when its job to
//     that destination is done;
//   - 0x0119 Class/Instance conflict when it is stored under another SOP
//     class; 0x0112 No such object instance when it has not arrived within
//     Config.UnknownWait; 0x0110 Processing failure when its delivery is
//     dead, was never queued, or takes longer than Config.DeliveryTimeout.
//
// The result goes out as N-EVENT-REPORT Event Type 1 (all committed,
// Referenced SOP Sequence) or 2 (Failed SOP Sequence (0008,1198) with
// Failure Reason (0008,1197)), echoing the Transaction UID (J.3.3.1.1). It
// is sent on the association that carried the N-ACTION when the requester
// still holds it open, otherwise on a new association to the requester's
// configured peer with the AE title the requester called as Calling AE and
// Role Selection SCU=0/SCP=1 (field failure B12), retried with exponential
// backoff until the requester answers.
package commit
