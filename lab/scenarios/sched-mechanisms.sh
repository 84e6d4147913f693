# sched-mechanisms.sh - persistence with a netmask, connection thresholds and
# live list/weight edits, as real IPVS schedules them (rvs scheduler fixtures).
# Run from the shared lab directory (it needs the guest script as an extra file):
#   ./run-in-vm.sh -k 6.1 -o /tmp/mech -f /work/main/lab/guest/sched_mechanisms.py \
#       /work/main/lab/scenarios/sched-mechanisms.sh
# Output: $LAB_OUT/sched-mechanisms.jsonl (see the guest script for the format)
set -eu
. "$LAB_LIB/topo.sh"
load_ipvs_modules > "$LAB_OUT/modules.txt"
topo_up 3
python3 /lab/sched_mechanisms.py --out "$LAB_OUT/sched-mechanisms.jsonl"
