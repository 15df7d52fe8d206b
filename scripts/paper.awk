# scripts/paper.awk - fills papers/keydir-designs/paper.md.in with numbers.
#
# Usage: awk -f scripts/paper.awk -v csv=RUN.csv -v goals=GOALS.csv \
#            -v goaltxt=GOALS.txt -v verdicts=VERDICTS.txt \
#            -v recovery=RECOVERY.txt -v fig=figures paper.md.in > paper.md
#
# Placeholders, each on a line of its own or inside text:
#   @META:key@                 a metadata field of RUN.csv (cpu, cores, ...)
#   @GMETA:key@                the same from GOALS.csv
#   @OPS:target:w:dist:thr@    median ops/s (k or M suffix) of RUN.csv
#   @SYNCS:target:w:dist:thr@  flushes per second of that row
#   @MEM:target@               bytes of memory per key after the load phase
#   @DISK:target@              bytes on disk per key after the load phase
#   @GOPS:..@ @GSYNCS:..@ @GMEM:..@ @GDISK:..@  the same from GOALS.csv
#   @BEST:kind:w:dist:thr@     the fastest target of a kind, with its ops/s
#   @TABLE_OPS@                median ops/s (min-max) per target x workload
#   @TABLE_LAT@                latency percentiles per target, YCSB-A zipfian
#   @TABLE_MEM@                memory and disk bytes per key per target
#   @TABLE_GOALS@              the goals table, as `casklab bench` printed it
#   @TABLE_VERDICTS@           stress + check verdicts per keydir
#   @TABLE_RECOVERY@           open times per keydir (RECOVERY.txt's rows)
#   @FIGURES@                  the figures, as Markdown images
# A missing number prints as "n/a", never as an empty string.

function load(file, pfx,    line, n, i, f, key, hdr, nh) {
    nh = 0
    while ((getline line < file) > 0) {
        if (line ~ /^# [a-z._:]+: /) {
            key = line; sub(/^# /, "", key); sub(/: .*/, "", key)
            sub(/^# [a-z._:]+: /, "", line)
            meta[pfx, key] = line
            continue
        }
        if (line ~ /^#/) continue
        n = split(line, f, ",")
        if (nh == 0) { for (i = 1; i <= n; i++) col[f[i]] = i; nh = n; continue }
        key = k4(pfx, f[col["target"]], f[col["workload"]], f[col["dist"]],
                 f[col["threads"]])
        ops[key] = f[col["ops_per_s_median"]]
        lo[key] = f[col["ops_per_s_min"]]; hi[key] = f[col["ops_per_s_max"]]
        p50[key] = f[col["lat_p50_ns"]]; p99[key] = f[col["lat_p99_ns"]]
        p999[key] = f[col["lat_p999_ns"]]
        syncs[key] = f[col["syncs_per_s"]]
        mem[key] = f[col["mem_bytes_per_key"]]; src[key] = f[col["mem_source"]]
        disk[key] = f[col["disk_bytes"]]; nkeys[key] = f[col["keys"]]
        kind[f[col["target"]]] = f[col["kind"]]
        if (pfx == "run" && !(f[col["target"]] in seen)) {
            seen[f[col["target"]]] = 1; order[++ntargets] = f[col["target"]]
        }
        if (pfx == "run" && f[col["oversubscribed"]] == 0 && f[col["threads"]] + 0 > thr + 0)
            thr = f[col["threads"]]
    }
    close(file)
}

function human(x) {
    if (x == "") return "n/a"
    x += 0
    if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
    if (x >= 1e3) return sprintf("%.0fk", x / 1e3)
    return sprintf("%.0f", x)
}

# A row's key: which file (run, goals), target, workload, dist, threads.
function k4(p, t, w, d, n) { return p SUBSEP t SUBSEP w SUBSEP (w == "load" ? "-" : d) SUBSEP n }

# The load row of t: at the run's core count, or the goals' 2 threads.
function loadrow(p, t) { return k4(p, t, "load", "-", p == "run" ? thr : 2) }

function perkey(p, t, what,    k) {
    k = loadrow(p, t)
    if (!(k in ops)) return "n/a"
    if (what == "mem") return sprintf("%.1f", mem[k])
    return disk[k] < 0 ? "n/a" : sprintf("%.1f", disk[k] / nkeys[k])
}

function best(kd, w, d, n,    i, t, k, bt, bv) {
    bv = -1
    for (i = 1; i <= ntargets; i++) {
        t = order[i]; k = k4("run", t, w, d, n)
        if (kind[t] == kd && (k in ops) && ops[k] + 0 > bv) { bv = ops[k] + 0; bt = t }
    }
    return bv < 0 ? "n/a" : "`" bt "` (" human(bv) " ops/s)"
}

function table_ops(    i, j, t, k, nw, w, d, hdr) {
    nw = split("load:- c:uniform c:zipfian a:uniform a:zipfian d:latest durable:uniform", cols, " ")
    hdr = "| target | kind |"
    for (j = 1; j <= nw; j++) {
        split(cols[j], wd, ":")
        hdr = hdr " " (wd[1] == "load" || wd[1] == "durable" ? wd[1] : "YCSB-" toupper(wd[1])) \
              (wd[2] == "-" ? "" : " " wd[2]) " |"
    }
    print hdr
    hdr = "|---|---|"; for (j = 1; j <= nw; j++) hdr = hdr "---:|"; print hdr
    for (i = 1; i <= ntargets; i++) {
        t = order[i]; line = "| `" t "` | " kind[t] " |"
        for (j = 1; j <= nw; j++) {
            split(cols[j], wd, ":"); k = k4("run", t, wd[1], wd[2], thr)
            line = line " " ((k in ops) ? human(ops[k]) " (" human(lo[k]) "-" human(hi[k]) ")" : "-") " |"
        }
        print line
    }
}

function table_lat(    i, t, k) {
    print "| target | p50 us | p99 us | p99.9 us | durable p99 us | durable flushes/s |"
    print "|---|---:|---:|---:|---:|---:|"
    for (i = 1; i <= ntargets; i++) {
        t = order[i]; k = k4("run", t, "a", "zipfian", thr); kd = k4("run", t, "durable", "uniform", thr)
        if (!(k in ops)) continue
        printf("| `%s` | %.2f | %.2f | %.2f | %s | %s |\n", t, p50[k] / 1e3, p99[k] / 1e3,
               p999[k] / 1e3, (kd in ops) ? sprintf("%.0f", p99[kd] / 1e3) : "-",
               (kd in ops) ? sprintf("%.0f", syncs[kd]) : "-")
    }
}

function table_mem(    i, t, k) {
    print "| target | kind | memory B/key | measured by | disk B/key |"
    print "|---|---|---:|---|---:|"
    for (i = 1; i <= ntargets; i++) {
        t = order[i]; k = loadrow("run", t)
        if (!(k in ops)) continue
        printf("| `%s` | %s | %s | %s | %s |\n", t, kind[t], perkey("run", t, "mem"),
               src[k] == "self" ? "the target's own count" : "anonymous RSS growth",
               perkey("run", t, "disk"))
    }
}

function cat_file(file,    line, any) {
    any = 0
    while ((getline line < file) > 0) { print line; any = 1 }
    close(file)
    if (!any) print "(missing: " file ")"
}

function figures(    cmd, f) {
    cmd = "cd " outdir " && ls " fig "/*.svg 2>/dev/null"
    while ((cmd | getline f) > 0) {
        name = f; sub(/.*\//, "", name); sub(/\.svg$/, "", name); gsub(/_/, " ", name)
        print "![" name "](" f ")"; print ""
    }
    close(cmd)
}

function subst(line,    m, parts, np, v, tok, t, k) {
    gsub(/@THREADS@/, thr, line) # first: it appears inside other placeholders
    while (match(line, /@[A-Z]+(:[^@ ]+)?@/)) {
        tok = substr(line, RSTART + 1, RLENGTH - 2)
        np = split(tok, parts, ":")
        v = "n/a"
        if (parts[1] == "META") v = (("run", parts[2]) in meta) ? meta["run", parts[2]] : "n/a"
        else if (parts[1] == "GMETA") v = (("goals", parts[2]) in meta) ? meta["goals", parts[2]] : "n/a"
        else if (parts[1] == "KEYS") v = human(nkeys[loadrow("run", order[1])])
        else if (parts[1] ~ /^G?(OPS|SYNCS)$/) {
            # target names hold a colon (cask:striped): rejoin all but 3 last
            t = parts[2]; for (m = 3; m <= np - 3; m++) t = t ":" parts[m]
            k = k4(parts[1] ~ /^G/ ? "goals" : "run", t, parts[np - 2],
                   parts[np - 1], parts[np])
            if (!(k in ops)) v = "n/a"
            else v = parts[1] ~ /OPS/ ? human(ops[k]) : sprintf("%.0f", syncs[k])
        } else if (parts[1] ~ /^G?(MEM|DISK)$/) {
            t = parts[2]; for (m = 3; m <= np; m++) t = t ":" parts[m]
            v = perkey(parts[1] ~ /^G/ ? "goals" : "run", t, parts[1] ~ /MEM/ ? "mem" : "disk")
        } else if (parts[1] == "BEST") v = best(parts[2], parts[3], parts[4], parts[5])
        line = substr(line, 1, RSTART - 1) v substr(line, RSTART + RLENGTH)
    }
    return line
}

BEGIN { thr = 0; load(goals, "goals"); load(csv, "run") }

/^@TABLE_OPS@$/ { table_ops(); next }
/^@TABLE_LAT@$/ { table_lat(); next }
/^@TABLE_MEM@$/ { table_mem(); next }
/^@TABLE_GOALS@$/ { cat_file(goaltxt); next }
/^@TABLE_VERDICTS@$/ { cat_file(verdicts); next }
/^@TABLE_RECOVERY@$/ { cat_file(recovery); next }
/^@FIGURES@$/ { figures(); next }
{ print subst($0) }
