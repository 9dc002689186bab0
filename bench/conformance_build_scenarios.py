"""Build scenarios for bench/conformance_diff.py (``--only build``): ``docker build`` and the image commands.

Each scenario is data: a build context (file name -> content; ``("link",
target)`` a symlink, ``("tar", {name: content})`` a tar archive, ``("mode",
content, 0o755)`` a file with a mode), the ``docker build`` options, and the
checks that follow a successful build. Both engines are driven by the real
docker CLI with ``DOCKER_BUILDKIT=0`` (the classic builder on both: dockerd
20.10's own and dockyard's); the contexts are made afresh under each engine's
scratch directory, so ``{ctx}`` (the context) and ``{tmp}`` are that engine's.

Compared for every build: the exit code, the ``Step``/``[Warning]``/error
lines of the output (IDs normalized), and, when it built, the image's Config
fields a Dockerfile sets, ``docker history`` (CreatedBy, empty or not) and the
scenario's ``run`` checks (what a container of the image sees).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from typing import Any, Callable

from tests.support.reference import Engine, normalize, print_answers, shape_diff

CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
               "StopSignal", "Healthcheck", "Shell", "OnBuild", "ArgsEscaped")
HISTORY = ["history", "--no-trunc", "--format", "{{.CreatedBy}} | {{if eq .Size \"0B\"}}empty{{else}}layer{{end}}"]
LS = "find {p} -print0 | xargs -0 stat -c '%n %A %u:%g %N' | sort"

# (name, files, build options, checks); each check a docker argv after the build ({img} the image).
Scenario = tuple[str, dict[str, Any], list[str], list[list[str]]]


def run(*cmd: str) -> list[str]:
    return ["run", "--rm", "--network", "none", "{img}", *cmd]


def sh(script: str) -> list[str]:
    return ["run", "--rm", "--network", "none", "--entrypoint", "sh", "{img}", "-c", script]


BUILDS: list[Scenario] = [
    ("arg before from", {"Dockerfile": "ARG BASE=busybox\nARG V=1\nFROM ${BASE}\nARG V\nRUN echo v=$V > /v\n"
                                       "ENV V2=$V\n"}, [], [sh("cat /v; echo $V2")]),
    ("arg before from overridden", {"Dockerfile": "ARG T=nosuch\nFROM busybox:${T}\n"},
     ["--build-arg", "T=latest"], []),
    ("arg before from unused in stage", {"Dockerfile": "ARG V=1\nFROM busybox\nRUN echo \"v=[$V]\" > /v\n"},
     [], [run("cat", "/v")]),
    ("env expansion forms", {"Dockerfile": "FROM busybox\nENV A=a B=\"b c\"\n"
                                           "ENV C=${A:-x} D=${NOPE:-dflt} E=${A:+set} F=${NOPE:+set} G=\\$A "
                                           "H=$A$B I='$A' J=\"$A\" K=${A}_k\n"
                                           "ENV L $A and ${B}\n"
                                           "LABEL l1=$A l2=\"${B}\" l3='$A'\n"
                                           "WORKDIR /w/$A\nUSER ${A:-root}\n"}, [],
     [sh("env | grep -E '^[A-L]=' | sort")]),
    ("arg expansion and build-arg", {"Dockerfile": "FROM busybox\nARG A\nARG B=bdef\nARG C=${B}c\n"
                                                   "RUN echo \"A=$A B=$B C=$C\" > /args\nENV FROMARG=$A\n"},
     ["--build-arg", "A=given", "--build-arg", "UNUSED=1"], [run("cat", "/args")]),
    ("arg from environment", {"Dockerfile": "FROM busybox\nARG HOME_ARG\nRUN echo \"[$HOME_ARG]\" > /a\n"},
     ["--build-arg", "HOME_ARG"], [run("cat", "/a")]),
    ("predefined proxy arg", {"Dockerfile": "FROM busybox\nRUN echo \"[$HTTP_PROXY]\" > /p\n"},
     ["--build-arg", "HTTP_PROXY=http://p:1"], [run("cat", "/p")]),
    ("multi-stage target", {"Dockerfile": "FROM busybox AS base\nRUN echo base > /base\n"
                                          "FROM base AS mid\nRUN echo mid > /mid\nFROM busybox\nRUN echo last > /l\n"},
     ["--target", "mid"], [sh("cat /base /mid; ls /l 2>&1")]),
    ("multi-stage bad target", {"Dockerfile": "FROM busybox AS a\nFROM busybox\n"}, ["--target", "nosuch"], []),
    ("copy --from stage, index, image", {"Dockerfile": "FROM busybox AS one\nRUN mkdir -p /o && echo 1 > /o/f\n"
                                                      "FROM busybox\nRUN echo 2 > /two\n"
                                                      "FROM busybox\nCOPY --from=one /o /from-name\n"
                                                      "COPY --from=1 /two /from-index\n"
                                                      "COPY --from=busybox /bin/true /from-image\n"},
     [], [sh(LS.format(p="/from-name /from-index /from-image"))]),
    ("copy --from unknown", {"Dockerfile": "FROM busybox\nCOPY --from=nosuchstage /x /y\n"}, [], []),
    ("copy --chown names and ids", {"Dockerfile": "FROM busybox\nRUN echo 'app:x:1234:2345::/:/bin/sh' >> /etc/passwd"
                                                  " && echo 'grp:x:2345:' >> /etc/group\n"
                                                  "COPY --chown=app:grp a /n1\nCOPY --chown=app a /n2\n"
                                                  "COPY --chown=77:88 a /n3\nCOPY --chown=77 d /n4\n"
                                                  "ADD --chown=app:grp a /n5\n",
                                    "a": "a\n", "d/x": "x\n", "d/sub/y": "y\n"},
     [], [sh(LS.format(p="/n1 /n2 /n3 /n4 /n5"))]),
    ("copy --chown unknown user", {"Dockerfile": "FROM busybox\nCOPY --chown=nosuch a /a\n", "a": "a"}, [], []),
    ("copy --chmod (not in classic builder)", {"Dockerfile": "FROM busybox\nCOPY --chmod=755 a /a\n", "a": "a"},
     [], [sh(LS.format(p="/a"))]),
    ("copy dirs globs wildcards", {"Dockerfile": "FROM busybox\nCOPY d /cd/\nCOPY d/ /cd2\nCOPY *.txt /t/\n"
                                                 "COPY f?.md /q/\nCOPY [ab].txt /br/\nCOPY a.txt b.txt /two/\n"
                                                 "COPY a.txt /file-dst\nCOPY d /nested/new/dir\n"
                                                 "COPY ln /ln\nCOPY d/../a.txt /dotdot\n",
                                   "a.txt": "a", "b.txt": "b", "f1.md": "1", "d/x": "x", "d/s/y": "y",
                                   "ln": ("link", "a.txt")},
     [], [sh(LS.format(p="/cd /cd2 /t /q /br /two /file-dst /nested /ln /dotdot"))]),
    ("copy wildcard no match", {"Dockerfile": "FROM busybox\nCOPY *.nosuch /x/\n", "a": "a"}, [], []),
    ("copy wildcard some match", {"Dockerfile": "FROM busybox\nCOPY a *.nosuch /x/\n", "a": "a"}, [],
     [sh(LS.format(p="/x"))]),
    ("copy missing file", {"Dockerfile": "FROM busybox\nCOPY nosuch /x\n"}, [], []),
    ("copy many to non-dir", {"Dockerfile": "FROM busybox\nCOPY a b /x\n", "a": "a", "b": "b"}, [], []),
    ("copy outside context", {"Dockerfile": "FROM busybox\nCOPY ../x /x\n"}, [], []),
    ("copy onto existing dir and file", {"Dockerfile": "FROM busybox\nCOPY a /etc\nCOPY a /etc/hostname\n"
                                                       "COPY d /bin/\n", "a": "A", "d/zz": "z"},
     [], [sh("cat /etc/a /etc/hostname /bin/zz")]),
    ("dockerignore", {"Dockerfile": "FROM busybox\nCOPY . /c/\n",
                      ".dockerignore": "# comment\n*.log\n!keep.log\n**/*.tmp\nsub/skip\n/abs\nDockerfile\n"
                                       "dir/*\n!dir/in\n",
                      "a.log": "x", "keep.log": "k", "x/y/z.tmp": "t", "x/y/ok": "o", "sub/skip": "s",
                      "sub/keep": "k", "abs": "a", "dir/out": "o", "dir/in": "i", "plain": "p"},
     [], [sh("cd /c && find . | sort")]),
    ("dockerignore excludes Dockerfile and itself", {"Dockerfile": "FROM busybox\nCOPY . /c/\n",
                                                    ".dockerignore": ".dockerignore\nDockerfile\n", "f": "f"},
     [], [sh("cd /c && find . | sort")]),
    ("dockerignore excludes copied file", {"Dockerfile": "FROM busybox\nCOPY a /a\n", ".dockerignore": "a\n",
                                          "a": "a"}, [], []),
    ("add local tar and file", {"Dockerfile": "FROM busybox\nADD t.tar /untar/\nADD t.tar /untar2\n"
                                              "ADD a /addfile\nADD a /adddir/\nADD t.tar.gz /gz/\n",
                                "t.tar": ("tar", {"in/one": "1", "two": "2"}),
                                "t.tar.gz": ("tgz", {"g": "g"}), "a": "a"},
     [], [sh(LS.format(p="/untar /untar2 /addfile /adddir /gz"))]),
    ("workdir create and relative", {"Dockerfile": "FROM busybox\nWORKDIR /a\nWORKDIR b\nWORKDIR c/d\n"
                                                   "RUN pwd > /pwd\nWORKDIR /e\nUSER 1000\nWORKDIR f\n"},
     [], [sh("cat /pwd; pwd; " + LS.format(p="/a /e"))]),
    ("workdir with env", {"Dockerfile": "FROM busybox\nENV D=/data\nWORKDIR $D/sub\nWORKDIR ${D}2\n"}, [],
     [run("pwd")]),
    ("user non-existent", {"Dockerfile": "FROM busybox\nUSER nosuch\nRUN id\n"}, [], []),
    ("user non-existent (no run)", {"Dockerfile": "FROM busybox\nUSER nosuch\n"}, [], [run("id")]),
    ("user uid:gid", {"Dockerfile": "FROM busybox\nUSER 1000:1000\nRUN id > /tmp/id\n"}, [],
     [run("cat", "/tmp/id")]),
    ("shell", {"Dockerfile": "FROM busybox\nSHELL [\"/bin/sh\", \"-xc\"]\nRUN echo hi\nCMD echo cmd\n"
                             "ENTRYPOINT echo ep\n"}, [], [run()]),
    ("shell not json", {"Dockerfile": "FROM busybox\nSHELL /bin/sh -c\n"}, [], []),
    ("cmd entrypoint forms", {"Dockerfile": "FROM busybox\nENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"a\", \"b\"]\n"},
     [], [run(), run("x")]),
    ("cmd shell form with entrypoint exec", {"Dockerfile": "FROM busybox\nENTRYPOINT [\"echo\"]\nCMD hi there\n"},
     [], [run()]),
    ("entrypoint shell form ignores cmd", {"Dockerfile": "FROM busybox\nENTRYPOINT echo ep\nCMD [\"x\"]\n"},
     [], [run(), run("y")]),
    ("entrypoint resets cmd", {"Dockerfile": "FROM busybox\nCMD [\"c\"]\nENTRYPOINT [\"echo\"]\n"}, [], [run()]),
    ("cmd bad json falls back to shell", {"Dockerfile": "FROM busybox\nCMD [\"echo\", 'x']\n"}, [], []),
    ("empty cmd and entrypoint", {"Dockerfile": "FROM busybox\nCMD []\nENTRYPOINT []\n"}, [], []),
    ("healthcheck options", {"Dockerfile": "FROM busybox\nHEALTHCHECK --interval=5s --timeout=3s --retries=2 "
                                           "--start-period=1s CMD wget -q localhost || exit 1\n"}, [], []),
    ("healthcheck exec and none", {"Dockerfile": "FROM busybox\nHEALTHCHECK CMD [\"true\"]\n"
                                                 "FROM busybox\nHEALTHCHECK NONE\n"}, [], []),
    ("healthcheck bad", {"Dockerfile": "FROM busybox\nHEALTHCHECK --interval=1ms CMD true\n"}, [], []),
    ("healthcheck unknown flag", {"Dockerfile": "FROM busybox\nHEALTHCHECK --bogus=1 CMD true\n"}, [], []),
    ("stopsignal", {"Dockerfile": "FROM busybox\nSTOPSIGNAL SIGUSR1\n"}, [], []),
    ("stopsignal number and bad", {"Dockerfile": "FROM busybox\nSTOPSIGNAL 9\nFROM busybox\nSTOPSIGNAL BOGUS\n"},
     [], []),
    ("expose forms", {"Dockerfile": "FROM busybox\nENV P=9000\nEXPOSE 80 443/tcp 53/udp 8000-8002 $P\n"}, [], []),
    ("expose bad", {"Dockerfile": "FROM busybox\nEXPOSE 80/xyz\n"}, [], []),
    ("volume forms", {"Dockerfile": "FROM busybox\nVOLUME /v1 /v2\nVOLUME [\"/v3\", \"/v 4\"]\n"
                                    "RUN echo x > /v1/f\n"}, [], [sh("ls -la /v1")]),
    ("label multi", {"Dockerfile": "FROM busybox\nLABEL a=1 b=\"two words\" \\\n  c=3\nLABEL \"q k\"=v\n"
                                   "LABEL old value with spaces\n"}, ["--label", "cli=x", "--label", "a=cli"], []),
    ("maintainer", {"Dockerfile": "FROM busybox\nMAINTAINER Someone <s@x>\n"}, [], []),
    ("onbuild trigger", {"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /trig\n"
                                       "ONBUILD ENV OB=1\n"}, ["-t", "bp-onbuild-parent"], []),
    ("onbuild child", {"Dockerfile": "FROM bp-onbuild-parent\nRUN cat /trig\n"}, [], [sh("cat /trig; echo $OB")]),
    ("onbuild bad", {"Dockerfile": "FROM busybox\nONBUILD FROM busybox\n"}, [], []),
    ("heredoc (not in classic)", {"Dockerfile": "FROM busybox\nRUN <<EOF\necho hi\nEOF\n"}, [], []),
    ("unknown instruction", {"Dockerfile": "FROM busybox\nFOO bar\n"}, [], []),
    ("no from", {"Dockerfile": "RUN true\n"}, [], []),
    ("empty dockerfile", {"Dockerfile": ""}, [], []),
    ("run fails", {"Dockerfile": "FROM busybox\nRUN echo out; exit 3\n"}, [], []),
    ("env without value", {"Dockerfile": "FROM busybox\nENV A\n"}, [], []),
    ("arg bad name", {"Dockerfile": "FROM busybox\nARG =x\n"}, [], []),
    ("from unknown image", {"Dockerfile": "FROM nosuchimage-bp:never\n"}, ["--pull=false"], []),
    ("run exec form and escapes", {"Dockerfile": "FROM busybox\nRUN [\"sh\", \"-c\", \"echo $0 > /e\", \"zero\"]\n"
                                                 "RUN echo 'a\\tb' \"c\\$d\" > /f\n"
                                                 "# escape comment\nRUN echo one \\\n   two > /g\n"},
     [], [sh("cat /e /f /g")]),
    ("escape directive", {"Dockerfile": "# escape=`\nFROM busybox\nRUN echo a `\n  b > /x\n"}, [],
     [run("cat", "/x")]),
    ("no-cache and iidfile", {"Dockerfile": "FROM busybox\nRUN echo x\n"},
     ["--no-cache", "--iidfile", "{tmp}/iid"], []),
    ("quiet", {"Dockerfile": "FROM busybox\nRUN echo noisy\n"}, ["-q"], []),
    ("-f outside context", {"Dockerfile": "FROM busybox\n", "../bp-outside.Dockerfile": "FROM busybox\nENV OUT=1\n",
                            "a": "a"}, ["-f", "{ctx}/../bp-outside.Dockerfile"], []),
    ("-f missing", {"a": "a"}, ["-f", "{ctx}/nosuch.Dockerfile"], []),
    ("env path extension", {"Dockerfile": "FROM busybox\nENV PATH=/opt/bin:$PATH\nENV A=\"\" B= C=x\n"
                                          "LABEL empty=\n"}, [], [sh("echo $PATH; env | grep -E '^[ABC]=' | sort")]),
    ("arg global redeclared in stages", {"Dockerfile": "ARG V=global\nARG S=one\nFROM busybox AS one\nARG V\n"
                                                      "RUN echo \"one=$V\" > /o\nFROM busybox\nARG V=local\nARG S\n"
                                                      "COPY --from=${S} /o /o\nRUN echo \"two=$V\" >> /o\n"},
     ["--build-arg", "V=cli"], [run("cat", "/o")]),
    ("cmd json not expanded", {"Dockerfile": "FROM busybox\nENV X=1\nCMD [\"echo\", \"$X\", \"${X}\"]\n"}, [],
     [run()]),
    ("entrypoint in child clears parent cmd", {"Dockerfile": "FROM busybox AS p\nCMD [\"parent\"]\n"
                                                             "FROM p\nENTRYPOINT [\"echo\"]\n"}, [], [run()]),
    ("copy --chown into new nested dirs", {"Dockerfile": "FROM busybox\nCOPY --chown=77:88 a /new/deep/a\n"
                                                         "COPY --chown=77:88 d /new2/deep/\nWORKDIR /wd/x\n"
                                                         "COPY a rel/\nCOPY a .\n",
                                           "a": "a", "d/f": "f"},
     [], [sh(LS.format(p="/new /new2 /wd"))]),
    ("modes and owners from the context", {"Dockerfile": "FROM busybox\nCOPY . /c/\n",
                                           "x": ("mode", "x", 0o4755), "ro": ("mode", "r", 0o400),
                                           "priv/f": ("mode", "f", 0o600), "emptydir/.keep": "", "hl": "h"},
     [], [sh(LS.format(p="/c"))]),
    ("add tar with --chown and to existing dir", {"Dockerfile": "FROM busybox\nADD --chown=7:8 t.tar /t/\n"
                                                                "ADD t.tar /etc/\n",
                                                  "t.tar": ("tar", {"in/one": "1", "passwd2": "2"})},
     [], [sh(LS.format(p="/t /etc/in /etc/passwd2"))]),
    ("copy to a file with trailing slash", {"Dockerfile": "FROM busybox\nCOPY a /etc/passwd/\n", "a": "a"}, [], []),
    ("copy onto a symlinked dir", {"Dockerfile": "FROM busybox\nRUN mkdir /real && ln -s /real /link\n"
                                                 "COPY a /link/\nCOPY a /link/b\n", "a": "a"},
     [], [sh(LS.format(p="/real /link"))]),
    ("target name case", {"Dockerfile": "FROM busybox AS Build\nRUN echo b > /b\nFROM busybox\n"},
     ["--target", "BUILD"], [run("cat", "/b")]),
    ("workdir as non-root user", {"Dockerfile": "FROM busybox\nUSER 1000:1000\nWORKDIR /made/by/user\n"
                                                "RUN touch f 2>&1 || echo denied\n"}, [],
     [sh(LS.format(p="/made"))]),
    ("run with env and arg of same name", {"Dockerfile": "FROM busybox\nARG X=arg\nENV X=env\n"
                                                         "RUN echo \"$X\" > /x\nARG Y=arg2\nENV Y=${Y}-env\n"},
     ["--build-arg", "X=cli"], [sh("cat /x; echo $Y")]),
    ("workdir on a file", {"Dockerfile": "FROM busybox\nWORKDIR /etc/passwd\n"}, [], []),
    ("workdir below a file", {"Dockerfile": "FROM busybox\nWORKDIR /etc/passwd/x\n"}, [], []),
    ("copy below a file", {"Dockerfile": "FROM busybox\nCOPY a /etc/passwd/x\n", "a": "a"}, [], []),
    ("copy dir onto a file", {"Dockerfile": "FROM busybox\nCOPY d /etc/passwd\n", "d/f": "f"}, [], []),
    ("copy file onto a dir", {"Dockerfile": "FROM busybox\nRUN mkdir -p /x/sub\nCOPY a /x\n", "a": "a"}, [],
     [sh(LS.format(p="/x"))]),
    ("setgid and sticky", {"Dockerfile": "FROM busybox\nCOPY . /c/\nCOPY d /d\n",
                           "g": ("mode", "g", 0o2755), "gn": ("mode", "g", 0o2644), "d/s": ("mode", "s", 0o1777)},
     [], [sh(LS.format(p="/c /d"))]),
    ("dockerignore advanced", {"Dockerfile": "FROM busybox\nCOPY . /c/\n",
                               ".dockerignore": "./lead\ntrail/\n**/deep/**\nkeepdir\n!keepdir/yes\n*/temp*\ntemp?\n"
                                                "a/**/z\n#notcomment\n  spaced  \n",
                               "lead": "l", "trail/f": "t", "x/deep/y/f": "d", "deep/f": "d2", "keepdir/yes": "y",
                               "keepdir/no": "n", "s/temp1": "t", "s/sub/temp2": "t", "temp3": "t", "temp33": "t",
                               "a/z": "z", "a/b/c/z": "z", "a/b/zz": "z", "#notcomment": "n", "spaced": "s"},
     [], [sh("cd /c && find . | sort")]),
    ("add compressed and fake archives", {"Dockerfile": "FROM busybox\nADD t.tar.gz t.tar.bz2 t.tar.xz fake.tar /a/\n",
                                          "t.tar.gz": ("tgz", {"gz": "g"}), "t.tar.bz2": ("tbz", {"bz": "b"}),
                                          "t.tar.xz": ("txz", {"xz": "x"}), "fake.tar": "not a tar"},
     [], [sh(LS.format(p="/a"))]),
    ("scratch stage with copy from", {"Dockerfile": "FROM busybox AS b\nRUN echo hi > /hi\nFROM scratch\n"
                                                    "COPY --from=b /hi /hi\nCOPY --from=b /bin/busybox /bin/sh\n"
                                                    "CMD [\"/bin/sh\", \"-c\", \"cat /hi\"]\n"}, [], [run()]),
    ("from with arg defaults", {"Dockerfile": "ARG IMG=busy\nARG TAG\nFROM ${IMG}box${TAG:+:$TAG}\n"
                                              "RUN echo ok > /ok\n"}, [], [run("cat", "/ok")]),
    ("env continuation and comments", {"Dockerfile": "FROM busybox\nENV A=1 \\\n# inner comment\n    B=2 \\\n"
                                                     "    C=\"three words\"\n"}, [], [sh("echo $A $B $C")]),
    ("user names from passwd", {"Dockerfile": "FROM busybox\nRUN echo 'app:x:1234:2345::/home/app:/bin/sh' >> "
                                              "/etc/passwd && echo 'grp:x:2345:' >> /etc/group && "
                                              "echo 'other:x:999:' >> /etc/group\nUSER app\nRUN id > /tmp/id1\n"
                                              "USER app:other\nRUN id > /tmp/id2\nUSER 1234\n"},
     [], [sh("cat /tmp/id1 /tmp/id2; id; echo $HOME")]),
    ("inherited healthcheck and labels", {"Dockerfile": "FROM busybox AS p\nHEALTHCHECK CMD true\nLABEL a=1 b=2\n"
                                                        "FROM p\nHEALTHCHECK NONE\nLABEL a=3\n"}, [], []),
    ("copy into a volume path", {"Dockerfile": "FROM busybox\nVOLUME /v\nCOPY a /v/a\nRUN echo r > /v/r\n"
                                               "ADD a /v/b\n", "a": "a"}, [], [sh("ls /v")]),
    ("onbuild copy in child", {"Dockerfile": "FROM busybox AS p\nONBUILD COPY . /app/\nONBUILD WORKDIR /app\n"
                                             "FROM p\nRUN ls\n", "f": "f"}, [], [sh("pwd; ls /app")]),
    ("symlinked dir hardlinks mtimes", {"Dockerfile": "FROM busybox\nCOPY linkdir /ld/\nCOPY linkdir /ld2\n"
                                                                  "COPY hard /h/\nADD m /m\nCOPY m d /t/\n"
                                                                  "COPY hard/a hard/b /two/\n",
                                                    "real/f": "f", "linkdir": ("link", "real"), "hard/a": "h",
                                                    "hard/b": ("hardlink", "hard/a"), "m": ("mtime", "m", 1000000000),
                                                    "d/n": ("mtime", "n", 1200000000)},
     [], [sh("find /ld /ld2 /h /m /t /two -print0 | xargs -0 stat -c '%n %A %h %N' | sort; "
             "stat -c '%n %Y' /m /t/m /t/n /h /t")]),
    ("json form with spaces", {"Dockerfile": "FROM busybox\nCOPY [\"a b\", \"/dst dir/\"]\nADD [\"a b\", \"/x y\"]\n",
                               "a b": "ab"}, [], [sh(LS.format(p="'/dst dir' '/x y'"))]),
    ("option network none", {"Dockerfile": "FROM busybox\nRUN ip -o link | cut -d: -f2 | sort > /links\n"},
     ["--network", "none"], [run("cat", "/links")]),
    ("option add-host", {"Dockerfile": "FROM busybox\nRUN grep myhost /etc/hosts > /h\n"},
     ["--add-host", "myhost:1.2.3.4", "--network", "none"], [run("cat", "/h")]),
    ("option memory and shm", {"Dockerfile": "FROM busybox\nRUN df -k /dev/shm | tail -1 | awk '{print $2}' > /s\n"},
     ["-m", "64m", "--shm-size", "8m", "--network", "none"], [run("cat", "/s")]),
    ("option ulimit", {"Dockerfile": "FROM busybox\nRUN ulimit -n > /u\n"}, ["--ulimit", "nofile=100:200"],
     [run("cat", "/u")]),
    ("option squash", {"Dockerfile": "FROM busybox\nRUN true\n"}, ["--squash"], []),
    ("option platform other", {"Dockerfile": "FROM busybox\n"}, ["--platform", "linux/arm64"], []),
    ("option security-opt", {"Dockerfile": "FROM busybox\nRUN true\n"}, ["--security-opt", "seccomp=unconfined"],
     []),
    ("option isolation", {"Dockerfile": "FROM busybox\nRUN true\n"}, ["--isolation", "hyperv"], []),
    ("option cgroup-parent and cpu", {"Dockerfile": "FROM busybox\nRUN true\n"},
     ["--cpu-shares", "512", "--cpuset-cpus", "0", "--cpu-quota", "50000"], []),
    ("expose order plain", {"Dockerfile": "FROM busybox\nEXPOSE 80 443/tcp 53/udp 8000-8002 9000\n"}, [], []),
    ("expose order var first", {"Dockerfile": "FROM busybox\nENV P=9000\nEXPOSE $P 80 22\n"}, [], []),
    ("expose order two words", {"Dockerfile": "FROM busybox\nENV P=\"81 82\"\nEXPOSE 80 $P 83\n"}, [], []),
    ("dockerfile from stdin", {"a": "a", "Dockerfile": "FROM busybox\nENV X=wrong\n"},
     ["-f", "-", "{stdin:FROM busybox\nCOPY a /a\n}"], [run("cat", "/a")]),
    ("-f relative name in context", {"sub/My.df": "FROM busybox\nCOPY a /a\n", "a": "a"}, ["-f", "sub/My.df"], []),
]

# After the builds: image commands (argv; compared as exit code + normalized output).
IMAGE_COMMANDS: list[list[str]] = [
    ["build", "-q", "-t", "bp-l1", "--label", "bp=1", "{ctx0}"],
    ["tag", "bp-l1", "bp-l1:other"],
    ["tag", "bp-l1", "bp-alias"],
    ["images", "--filter", "label=bp", "--format", "{{.Repository}}:{{.Tag}}"],
    ["images", "--filter", "label=bp=1", "--format", "{{.Repository}}:{{.Tag}}"],
    ["images", "--filter", "reference=bp-l*", "--format", "{{.Repository}}:{{.Tag}}"],
    ["images", "--filter", "reference=bp-l1:other", "--format", "{{.Repository}}:{{.Tag}}"],
    ["images", "--filter", "before=bp-l1", "--filter", "reference=bp-*", "--format", "{{.Repository}}"],
    ["images", "--filter", "since=busybox", "--filter", "reference=bp-l1", "--format", "{{.Repository}}:{{.Tag}}"],
    ["image", "inspect", "--format", "{{.Parent}}|{{.Comment}}|{{.Author}}|{{json .Config.Image}}|"
     "{{json .RepoTags}}|{{json .RepoDigests}}|{{.Os}}|{{.Architecture}}|{{json .GraphDriver.Name}}", "bp-l1"],
    ["images", "-a", "--filter", "label=bp=1", "--format", "{{.Repository}}:{{.Tag}}"],
    ["history", "--format", "{{.ID}} {{.CreatedBy}} {{.Size}} {{.Comment}}", "bp-l1"],
    ["images", "--filter", "before=nosuch"],
    ["images", "--filter", "dangling=maybe"],
    ["images", "--filter", "bogus=1"],
    ["images", "bp-l1"],
    ["images", "-q", "--no-trunc", "bp-l1"],
    ["image", "ls", "--digests", "bp-l1"],
    ["rmi", "bp-l1:other"],
    ["rmi", "bp-l1"],
    ["rmi", "bp-alias"],
    ["build", "-q", "-t", "bp-dangle", "{ctx0}"],
    ["build", "-q", "-t", "bp-dangle", "--label", "v=2", "{ctx0}"],
    ["build", "-q", "-t", "bp-dangle", "--label", "v=3", "{ctx0}"],
    ["images", "--filter", "dangling=true", "--format", "{{.Repository}}:{{.Tag}}"],
    ["images", "--filter", "dangling=false", "--filter", "reference=bp-dangle", "--format", "{{.Repository}}:{{.Tag}}"],
    ["image", "prune", "-f"],
    ["images", "--filter", "dangling=true", "--format", "{{.Repository}}:{{.Tag}}"],
    ["images", "--filter", "dangling=true", "--filter", "label=bp=dangle", "--format", "{{.Repository}}:{{.Tag}}"],
    ["image", "prune", "-f", "--filter", "label=nosuch"],
    ["image", "prune", "-f", "--filter", "bogus=1"],
    ["build", "-q", "-t", "bp-keep", "--label", "keep=1", "{ctx0}"],
    ["image", "prune", "-a", "-f", "--filter", "label=keep=1"],
    ["images", "--filter", "reference=bp-keep", "--format", "{{.Repository}}"],
    ["tag", "busybox", "bp-bb"],
    ["rmi", "bp-bb", "nosuch"],
    ["rmi", "nosuch", "bp-dangle"],
    ["rmi", "-f", "bp-dangle"],
    ["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "busybox"],
    ["history", "--format", "table {{.CreatedBy}}\t{{.Size}}", "bp-keep"],
    ["history", "-H=false", "--format", "{{.CreatedAt}}", "bp-keep"],
    ["history", "nosuch"],
    ["tag", "nosuch", "x"],
    ["tag", "busybox", "Bad:Name"],
    ["tag", "busybox", "bp:bad tag"],
]

CTX0 = {"Dockerfile": "FROM busybox\nLABEL bp=dangle\nRUN date +%N > /stamp\n"}


def write_context(root: str, files: dict[str, Any]) -> None:
    """Make one build context under ``root`` (paths may climb one level for ``-f`` outside)."""
    os.makedirs(root, exist_ok=True)
    for rel, content in files.items():
        path = os.path.normpath(os.path.join(root, rel))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, str):
            with open(path, "w") as f:
                f.write(content)
        elif content[0] == "link":
            os.symlink(content[1], path)
        elif content[0] in ("tar", "tgz", "tbz", "txz"):
            mode = {"tar": "w", "tgz": "w:gz", "tbz": "w:bz2", "txz": "w:xz"}[content[0]]
            with tarfile.open(path, mode) as tar:
                for name, text in content[1].items():
                    data = text.encode()
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.uid, info.gid = len(data), 0o640, 5, 6
                    tar.addfile(info, io.BytesIO(data))
        elif content[0] == "hardlink":
            os.link(os.path.join(root, content[1]), path)
        elif content[0] == "mtime":
            with open(path, "w") as f:
                f.write(content[1])
            os.utime(path, (content[2], content[2]))
        elif content[0] == "mode":
            with open(path, "w") as f:
                f.write(content[1])
            os.chmod(path, content[2])


def build_lines(text: str) -> str:
    """The lines of a build's output that do not depend on the engine's speed or IDs."""
    keep = []
    for line in text.splitlines():
        line = line.rstrip()
        if line.startswith(" ---> ") or line.startswith("Removing intermediate") or not line:
            continue
        if line.startswith("Sending build context") or line.startswith("Successfully built"):
            continue
        keep.append(line)
    return normalize("\n".join(keep))


def config_of(e: Engine, img: str) -> dict[str, Any]:
    p = e.docker("image", "inspect", "--format", "{{json .Config}}", img)
    if p.returncode != 0:
        return {"error": p.stderr.strip()}
    cfg = json.loads(p.stdout) or {}
    return {k: cfg.get(k) for k in CONFIG_KEYS}


def run_builds(ref: Engine, ours: Engine, tmp: str, section: Callable[[str], None],
               only_names: set[str] | None = None) -> None:
    """Every scenario of BUILDS on both engines, differences printed (``same`` when none).

    ``only_names`` (or BP_ONLY=name,name in the environment) runs just those.
    """
    for i, (name, files, options, checks) in enumerate(BUILDS):
        only_names = only_names or set(filter(None, os.environ.get("BP_ONLY", "").split(",")))
        if only_names and name not in only_names:
            continue
        section(f"build: {name}")
        img = f"bp-{i}"
        got: dict[str, list[tuple[str, str]]] = {}
        for e in (ref, ours):
            ctx = os.path.join(tmp, e.name, "builds", f"{i}", "ctx")
            write_context(ctx, files)
            env = dict(e.env, DOCKER_BUILDKIT="0", HOME_ARG="from-env")
            fill = (lambda a, ctx=ctx, e=e: a.replace("{ctx}", ctx).replace("{tmp}", os.path.join(tmp, e.name)))
            stdin = next((a[7:-1] for a in options if a.startswith("{stdin:")), None)
            argv = [fill(a) for a in options if not a.startswith("{stdin:")]
            p = subprocess.run(["docker", "build", "-t", img, *argv, ctx], env=env, capture_output=True, text=True,
                               timeout=120, input=stdin)
            rows = [("exit", str(p.returncode)), ("out", build_lines(p.stdout).replace(ctx, "{ctx}")),
                    ("err", normalize(p.stderr.strip()).replace(ctx, "{ctx}"))]
            if "--iidfile" in options:
                with open(os.path.join(tmp, e.name, "iid")) as f:
                    rows.append(("iidfile", normalize(f.read())))
            if p.returncode == 0:
                rows.append(("config", json.dumps(config_of(e, img), sort_keys=True)))
                h = e.docker(*HISTORY, img)
                rows.append(("history", normalize(h.stdout + h.stderr)))
                for check in checks:
                    c = e.docker(*[a.replace("{img}", img) for a in check])
                    rows.append((" ".join(check[4:]), f"exit {c.returncode}\n{normalize(c.stdout + c.stderr)}"))
            got[e.name] = rows
        a, b = got[ref.name], got[ours.name]
        if a == b:
            print("  same")
            continue
        for (key, va), (_, vb) in zip(a, b):
            if va != vb:
                print(f"  {key}:\n    docker: {_indent(va)}\n    ours:   {_indent(vb)}")
        if len(a) != len(b):
            print(f"  rows: docker {[k for k, _ in a]} / ours {[k for k, _ in b]}")


def inspect_shapes(ref: Engine, ours: Engine, section: Callable[[str], None], images: list[str]) -> None:
    """The whole ``docker image inspect`` of built images: keys, types and values (IDs, times, sizes aside)."""
    ignore = frozenset({"Id", "Created", "Size", "VirtualSize", "RootFS.Layers", "Metadata.LastTagTime",
                        "GraphDriver.Data", "Parent", "Config.Image", "ContainerConfig.Image", "Container",
                        "ContainerConfig.Hostname", "Config.Hostname", "DockerVersion"})
    for img in images:
        section(f"docker image inspect {img} (shape)")
        got = []
        for e in (ref, ours):
            p = e.docker("image", "inspect", img)
            got.append(json.loads(p.stdout)[0] if p.returncode == 0 else {"error": p.stderr})
        for line in shape_diff(got[0], got[1], ignore=ignore) or ["same"]:
            print("  " + line)


def run_image_commands(ref: Engine, ours: Engine, tmp: str, section: Callable[[str], None]) -> None:
    """The image commands around build, in order, on both engines."""
    ctx0 = {}
    for e in (ref, ours):
        ctx0[e.name] = os.path.join(tmp, e.name, "builds", "ctx0")
        write_context(ctx0[e.name], CTX0)
    for argv in IMAGE_COMMANDS:
        section(f"docker {' '.join(argv)}")
        got = []
        for e in (ref, ours):
            env = dict(e.env, DOCKER_BUILDKIT="0")
            p = subprocess.run(["docker", *[a.replace("{ctx0}", ctx0[e.name]) for a in argv]], env=env,
                               capture_output=True, text=True, timeout=120)
            got.append((p.returncode, normalize(p.stdout.strip()), normalize(p.stderr.strip())))
        print_answers(*got)


def _indent(text: str) -> str:
    return text.replace("\n", "\n            ")
