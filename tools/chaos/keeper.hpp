// shmq-chaos's dead-letter keeper: one worker process that looks after the
// queue's dead-letter area, as an operator with shmq-cli dlq would. Each round
// (every kKeeperPeriod) it lists the dead letters and, for each one:
//   1. checks it (record_dead_letter): an intact payload of this run carrying
//      the entry's message id, dead after exactly kDlqMaxDeliveries deliveries
//      in the dead-letter group; and records it in the ledger (the cell's
//      dead-lettered bit, which also settles what an earlier replay owed);
//   2. replays it if the controller asked for a replay (a fault) since the
//      last round, or if a keeper that died was replaying it (the entry still
//      names that session): the cell is marked "replay owed" first, so the
//      copy must then be acked or dead-lettered again;
//   3. otherwise, once the area is half full, frees it to make room (as
//      `shmq-cli dlq purge`): the message stays accounted for by its record.
// Killed between a replay's publish and freeing the entry, it leaves the
// message both in the queue and in the area: a later replay delivers it twice,
// which the checker allows once per keeper killed or fenced.
#pragma once

#include <cstdint>

#include "shmq/admin/report.hpp"
#include "workers.hpp"

namespace shmq::chaos {

enum class DeadLetterCheck : std::uint8_t {
  Intact,    // recorded in the dead-letter group's cell
  Stray,     // intact, of a group that must have no dead letters: recorded in that group's cell
  Corrupt,   // bad payload, id, group or delivery count: not recorded
};

// Checks one dead letter and records what it proves (step 1 above). The
// controller calls it too, for what is left in the area at the end.
DeadLetterCheck record_dead_letter(const RunShape& shape, const SharedLedger& shared, const admin::DeadLetter& d);

// The keeper's loop, until stop_consumers or fenced (kExitFenced).
int run_keeper(const RunShape& shape, const SharedLedger& shared);

}  // namespace shmq::chaos
