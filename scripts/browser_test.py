#!/usr/bin/env python3
"""End-to-end tests of the web UI in a real browser: Debian's chromium, driven by Debian's
chromedriver through Selenium (which is told where the driver is, so it downloads nothing).

The browser itself presents the demo person's client certificate in the TLS handshake: the
certificate and key are imported into the browser's NSS store (as from a SITHS card), and
the managed policy AutoSelectCertificateForUrls selects it for the server.

    browser_test.py CALLVAULT_BINARY ARTIFACT_DIR

Run by scripts/browser-test (which installs chromium, chromedriver, NSS tools and Selenium).
Screenshots of the pages go to ARTIFACT_DIR.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

POLICY_DIR = "/etc/chromium/policies/managed"
POLICY_FILE = os.path.join(POLICY_DIR, "callvault-browser-test.json")
P12_PASSWORD = "callvault-dev"
STHLM = "SE2321000016-0001"


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print(f"  ok: {what}")


class Browser:
    """A headless chromium whose NSS store holds one person's certificate (or none)."""

    def __init__(self, work, name, pki, p12=None, card=None):
        """`card` = (pinpad module, SoftHSM2 config, PIN): the key goes onto a PKCS#11 token
        registered in the NSS store with modutil, as a SITHS card's middleware is."""
        self.home = os.path.join(work, "home-" + name)
        nssdb = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(nssdb)
        env = dict(os.environ, HOME=self.home)
        run("certutil", "-N", "-d", "sql:" + nssdb, "--empty-password")
        run("certutil", "-A", "-d", "sql:" + nssdb, "-n", "callvault-dev-root", "-t", "C,,",
            "-i", os.path.join(pki, "root-ca.pem"))
        if card:
            module, conf, pin = card
            env.update(SOFTHSM2_CONF=conf, CALLVAULT_TOKEN_PIN=pin)
            run("softhsm2-util", "--init-token", "--free", "--label", "SITHS", "--pin", pin,
                "--so-pin", "12345678", env=env)
            subprocess.run(["modutil", "-force", "-dbdir", "sql:" + nssdb, "-add", "siths-card",
                            "-libfile", module], input="\n", check=True, capture_output=True,
                           text=True, env=env)
            run("pk12util", "-i", os.path.join(pki, p12), "-d", "sql:" + nssdb, "-h", "SITHS",
                "-W", P12_PASSWORD, "-K", pin, env=env)
            soft = subprocess.run(["certutil", "-K", "-d", "sql:" + nssdb], capture_output=True,
                                  text=True, env=env)
            on_card = run("certutil", "-K", "-d", "sql:" + nssdb, "-h", "SITHS", env=env).stdout
            check("no keys found" in soft.stdout + soft.stderr and "serialNumber" in on_card,
                  "the private key is on the PKCS#11 token, none in the browser's own store")
        elif p12:
            run("pk12util", "-i", os.path.join(pki, p12), "-d", "sql:" + nssdb, "-W", P12_PASSWORD)
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        self.downloads = os.path.join(self.home, "downloads")
        os.makedirs(self.downloads)
        opts.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                               "download.prompt_for_download": False})
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                  "--user-data-dir=" + os.path.join(self.home, "profile"),
                  "--autoplay-policy=no-user-gesture-required"]:
            opts.add_argument(a)
        service = Service(executable_path="/usr/bin/chromedriver", env=env)
        self.d = webdriver.Chrome(service=service, options=opts)
        self.d.set_page_load_timeout(30)
        self.d.set_script_timeout(30)

    def quit(self):
        self.d.quit()


AXE = os.environ.get("CALLVAULT_AXE", "")


def accessibility(b, page):
    """axe-core (a test tool injected by WebDriver, not served by callvault) on the current
    page: no serious or critical violation of WCAG 2 A/AA rules."""
    with open(AXE) as f:
        b.d.execute_script(f.read())
    result = b.d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => done(r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))));")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    check(not bad, f"{page}: no serious accessibility violation (axe-core, WCAG 2 AA): {bad}")


def main(callvault, pinpad, artifacts):
    if os.geteuid() != 0:
        print("browser_test: the certificate auto-selection policy lives in /etc/chromium; run as root")
        return 1
    os.makedirs(artifacts, exist_ok=True)
    work = tempfile.mkdtemp(prefix="callvault-browser-")
    data = os.path.join(work, "demo")
    server = None
    browsers = []
    try:
        out = run(callvault, "demo", "--data-dir", data, "--recordings", "6", "--no-serve",
                  "--listen", "127.0.0.1:0").stdout
        pki = os.path.join(data, "pki")
        os.makedirs(POLICY_DIR, exist_ok=True)
        with open(POLICY_FILE, "w") as f:
            json.dump({"AutoSelectCertificateForUrls": [
                json.dumps({"pattern": "https://127.0.0.1:*", "filter": {}})]}, f)
        server = subprocess.Popen([callvault, "serve", "--config", os.path.join(data, "server.toml")],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = server.stdout.readline()
        m = re.search(r"https://(127\.0\.0\.1:\d+)", line)
        if not m:
            raise Failure("server did not start: " + line)
        base = "https://" + m.group(1)
        print("server at", base)

        def api(who, path):
            r = run("curl", "-sS", "--cacert", os.path.join(pki, "root-ca.pem"),
                    "--cert", os.path.join(pki, who + ".pem"), "--key", os.path.join(pki, who + "-key.pem"),
                    base + path)
            return json.loads(r.stdout)

        with open(os.path.join(data + ".examples", "patient.txt")) as f:
            patient = f.read().strip()  # demo call 0: Region Stockholm, unit 1177

        def shot(b, name):
            b.d.save_screenshot(os.path.join(artifacts, name + ".png"))

        def wait(b, cond, what, seconds=20):
            end = time.time() + seconds
            while time.time() < end:
                try:
                    v = cond()
                except Exception:  # the page is still loading or was replaced
                    v = None
                if v:
                    return v
                time.sleep(0.2)
            raise Failure("timed out waiting for " + what)

        # --- The nurse of Region Stockholm: search, open, play (Range requests).
        print("nurse-a: search, open a call, play")
        nurse = Browser(work, "nurse-a", pki, "nurse-a.p12")
        browsers.append(nurse)
        d = nurse.d
        d.get(base + "/")
        check("Anna Andersson" in d.page_source and "SE2321000016-N001" in d.page_source,
              "the page shows who is logged in (name, HSA-ID) with the browser's certificate")
        check(d.find_element(By.ID, "active-assignment").text.startswith("nurse-a"),
              "the active assignment is shown")
        check(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv", "Swedish by default")
        shot(nurse, "01-home-nurse")
        accessibility(nurse, "home")
        d.get(base + "/ui/search")
        d.find_element(By.ID, "patient").send_keys(patient)
        shot(nurse, "02-search-form")
        d.find_element(By.ID, "search").click()
        links = wait(nurse, lambda: d.find_elements(By.CLASS_NAME, "open-call"), "search results")
        check(len(links) >= 1, "the search finds the patient's call")
        shot(nurse, "03-search-results")
        accessibility(nurse, "search results")
        links[0].click()
        wait(nurse, lambda: d.find_elements(By.ID, "player"), "the call page")
        check(d.find_element(By.ID, "patient").text.replace("-", "") in patient.replace("-", ""),
              "the call page shows the call's metadata")
        check(d.find_element(By.ID, "listen-heading") is not None and "vård och behandling" in d.page_source,
              "the purpose the call is opened under is shown before playing")
        d.execute_script("const p = document.getElementById('player'); p.muted = true; p.currentTime = 5; p.play();")
        wait(nurse, lambda: d.execute_script(
            "const p = document.getElementById('player'); return p.readyState >= 2 && p.duration > 0;"),
            "the audio element to load")
        check(True, "the audio element loaded and seeks (currentTime set)")
        shot(nurse, "04-call-page")
        accessibility(nurse, "call page")

        # --- Emergency access: a call of the other unit (1178) of the same care provider.
        print("nurse-a: emergency access")
        # The import events name each recording's care unit.
        imports = [e for e in api("reviewer-a", f"/api/v1/audit/events?care_provider={STHLM}&purpose=logguppfoljning&limit=1000")
                   if e["action"] == "recording.import"]
        ids = {e["recording"] for e in imports}
        other = next((e["recording"] for e in imports
                      if ["care_unit", "SE2321000016-1178"] in [list(x) for x in e["details"]]), None)
        check(other is not None, "a call of unit 1178 exists")
        d.get(f"{base}/ui/calls/{other}")
        check(d.find_elements(By.ID, "reason"), "opening it asks for an emergency-access reason")
        check("loggas" in d.page_source, "with a notice that the access is logged and reviewed")
        shot(nurse, "05-emergency-dialog")
        accessibility(nurse, "emergency dialog")
        # The browser enforces the reason's presence; the server enforces its length too.
        d.execute_script("const r = document.getElementById('reason'); r.removeAttribute('required'); r.removeAttribute('minlength'); r.value = 'kort';")
        d.find_element(By.ID, "emergency-submit").click()
        wait(nurse, lambda: d.find_elements(By.ID, "error-message"), "the refusal page")
        check("403" in d.find_element(By.TAG_NAME, "h1").text, "a too short reason is refused (403)")
        d.get(f"{base}/ui/calls/{other}")
        d.find_element(By.ID, "reason").send_keys("Patienten ringde tillbaka med bröstsmärta")
        d.find_element(By.ID, "emergency-submit").click()
        wait(nurse, lambda: d.find_elements(By.ID, "emergency-flag"), "the flagged call page")
        d.execute_script("const p = document.getElementById('player'); p.muted = true; p.play();")
        wait(nurse, lambda: d.execute_script(
            "const p = document.getElementById('player'); return p.readyState >= 2 && p.duration > 0;"),
            "the emergency call's audio")
        shot(nurse, "06-emergency-call")

        # The log reviewer sees the plays (with byte ranges) and the flagged emergency access.
        events = api("reviewer-a", f"/api/v1/audit/events?care_provider={STHLM}&purpose=logguppfoljning&limit=200")
        plays = [e for e in events if e["action"] == "recording.play" and e["actor"] == "person:SE2321000016-N001"]
        check(any(any(k == "sent" for k, _ in e["details"]) and any(k == "asked" for k, _ in e["details"]) for e in plays),
              "the reviewer sees the nurse's plays with their byte ranges (Range requests)")
        check(any(e["emergency_access"] and e["recording"] == other for e in events),
              "the emergency access is flagged in the audit log")

        # --- The log reviewer, in the browser: the access above, a follow-up, a verdict, an
        # extract.
        print("reviewer-a: audit view, follow-up, log extract")
        rev = Browser(work, "reviewer-a", pki, "reviewer-a.p12")
        browsers.append(rev)
        d = rev.d
        d.get(base + "/ui/review")
        rows = d.find_element(By.ID, "events").text
        check("SE2321000016-N001" in rows and "recording.play" in rows,
              "the reviewer sees the nurse's plays in the audit view")
        check("Nödåtkomst" in rows, "and the emergency access, flagged")
        shot(rev, "09-review-audit")
        accessibility(rev, "audit view")
        d.find_element(By.ID, "run-follow-up").click()
        wait(rev, lambda: d.find_elements(By.CLASS_NAME, "finding"), "the follow-up's findings")
        check("Nödåtkomst" in d.page_source, "the follow-up lists the emergency access")
        shot(rev, "10-follow-up")
        accessibility(rev, "follow-up")
        first = d.find_elements(By.CLASS_NAME, "finding")[0]
        fid = first.get_attribute("id")
        first.find_element(By.CSS_SELECTOR, "input[value=justified]").click()
        first.find_element(By.TAG_NAME, "textarea").send_keys("Återuppringning, journalfört")
        first.find_element(By.TAG_NAME, "button").click()
        wait(rev, lambda: "Återuppringning, journalfört" in d.page_source, "the saved verdict")
        check("Befogad" in d.find_element(By.ID, fid).text, "the verdict is saved")
        d.get(base + "/ui/review/extract")
        d.find_element(By.ID, "patient").send_keys(patient)
        d.find_element(By.ID, "download").click()
        def finished_pdf():
            names = os.listdir(rev.downloads)
            done = [f for f in names if f.endswith(".pdf")
                    and os.path.getsize(os.path.join(rev.downloads, f)) > 0]
            return done if done and not any(f.endswith(".crdownload") for f in names) else None
        pdf = wait(rev, finished_pdf, "the PDF download")
        with open(os.path.join(rev.downloads, pdf[0]), "rb") as f:
            check(f.read(5) == b"%PDF-", "the patient's log extract downloads as a PDF")
        check(patient[:8] not in pdf[0], "its file name does not name the patient")
        d.get(base + "/ui/review/follow-up/no-such-run")
        check("404" in d.find_element(By.TAG_NAME, "h1").text, "an unknown run is a 404 page")
        nurse.d.get(base + "/ui/review")
        check("403" in nurse.d.find_element(By.TAG_NAME, "h1").text, "a nurse gets 403 on the review pages")

        # --- Privilege administrators: a request, never approved by its requester; approved
        # by the second administrator.
        print("admin-a and admin-a2: four eyes")
        adm = Browser(work, "admin-a", pki, "admin-a.p12")
        browsers.append(adm)
        d = adm.d
        d.get(base + "/ui/admin")
        check("access-review" in d.page_source, "the administrator sees the access review")
        d.find_element(By.ID, "new-hsa").send_keys("SE2321000016-N777")
        d.find_element(By.ID, "new-name").send_keys("Nils Nyström")
        d.find_element(By.ID, "new-title").send_keys("Sjuksköterska")
        d.find_element(By.ID, "user-submit").click()
        wait(adm, lambda: "Nils Nyström" in d.find_element(By.ID, "users").text, "the new user")
        check(True, "the administrator registers a user")
        from selenium.webdriver.support.ui import Select
        Select(d.find_element(By.ID, "holder")).select_by_value("SE2321000016-Q001")
        Select(d.find_element(By.ID, "purpose")).select_by_value("kvalitetssakring")
        d.find_element(By.ID, "justification").send_keys("Utredning enligt Lex Maria")
        d.find_element(By.ID, "request-submit").click()
        rows = wait(adm, lambda: d.find_elements(By.CSS_SELECTOR, "#pending tbody tr"), "the pending request")
        check(len(rows) >= 1, "the request is pending")
        shot(adm, "11-admin")
        accessibility(adm, "administration")
        req_id = rows[-1].get_attribute("id")
        rows[-1].find_element(By.CLASS_NAME, "approve").click()
        wait(adm, lambda: d.find_elements(By.ID, "error-message"), "the refusal")
        check("403" in d.find_element(By.TAG_NAME, "h1").text, "nobody approves their own request (403)")
        adm2 = Browser(work, "admin-a2", pki, "admin-a2.p12")
        browsers.append(adm2)
        d = adm2.d
        d.get(base + "/ui/admin")
        d.find_element(By.CSS_SELECTOR, f"#{req_id} .approve").click()
        wait(adm2, lambda: not d.find_elements(By.ID, req_id), "the approval")
        check(True, "the second administrator approves it")

        # --- Records managers: a legal hold; an IVO decision registered by one, refused to
        # her own approval, approved by the other, executed, its certificate fetched.
        print("records-a and records-a2: hold, IVO decision, four eyes, execution")
        victim = next((e["recording"] for e in imports
                       if ["call_id", "demo-call-0004"] in [list(x) for x in e["details"]]), None)
        check(victim is not None, "demo call 4 exists")
        rm = Browser(work, "records-a", pki, "records-a.p12")
        browsers.append(rm)
        d = rm.d
        d.get(base + "/ui/records")
        d.find_element(By.ID, "hold_recordings").send_keys(other)
        d.find_element(By.ID, "hold_reason").send_keys("Klagomål under utredning")
        d.find_element(By.ID, "case_reference").send_keys("Dnr 2026/77")
        d.find_element(By.ID, "hold-submit").click()
        wait(rm, lambda: d.find_elements(By.ID, "holds"), "the hold")
        check("Dnr 2026/77" in d.find_element(By.ID, "holds").text, "a legal hold is set")
        doc = os.path.join(work, "ivo-beslut.pdf")
        with open(doc, "wb") as f:
            f.write(b"%PDF-1.7 IVO beslut (test)")
        d.find_element(By.ID, "case_number").send_keys("IVO 3.5.1-77/2026")
        d.execute_script("document.getElementById('decision_date').value = '2026-11-20';")
        d.find_element(By.ID, "ivo_recordings").send_keys(victim)
        d.find_element(By.ID, "document").send_keys(doc)
        d.find_element(By.ID, "ivo-submit").click()
        order_row = wait(rm, lambda: d.find_elements(By.CSS_SELECTOR, "#orders tbody tr"), "the order")[-1]
        order_id = order_row.get_attribute("id")
        check("registered" in order_row.text, "the IVO decision is registered")
        shot(rm, "12-records")
        accessibility(rm, "records")
        order_row.find_element(By.CLASS_NAME, "approve").click()
        wait(rm, lambda: d.find_elements(By.ID, "error-message"), "the refusal")
        check("403" in d.find_element(By.TAG_NAME, "h1").text, "she cannot approve her own order (403)")
        rm2 = Browser(work, "records-a2", pki, "records-a2.p12")
        browsers.append(rm2)
        d = rm2.d
        d.get(base + "/ui/records")
        d.find_element(By.CSS_SELECTOR, f"#{order_id} .approve").click()
        wait(rm2, lambda: d.find_elements(By.CSS_SELECTOR, f"#{order_id} .execute"), "the approval")
        d.find_element(By.CSS_SELECTOR, f"#{order_id} .execute").click()
        link = wait(rm2, lambda: d.find_elements(By.CSS_SELECTOR, f"#{order_id} .certificate"), "the execution")
        check("executed" in d.find_element(By.ID, order_id).text, "the order is executed by crypto-shredding")
        link[0].click()
        wait(rm2, lambda: "callvault deletion certificate" in d.page_source, "the certificate")
        check(victim in d.page_source, "the deletion certificate names the destroyed recording")

        # --- The operator: status and volumes, counts only.
        print("operator-a: operations")
        op = Browser(work, "operator-a", pki, "operator-a.p12")
        browsers.append(op)
        d = op.d
        d.get(base + "/ui/operations")
        check(d.find_elements(By.CSS_SELECTOR, "svg.chart rect"), "the volume chart is drawn (SVG, served by callvault)")
        check(d.find_element(By.ID, "under-replicated").text == "0", "no recording is under-replicated")
        check(len(d.find_elements(By.CSS_SELECTOR, "#sites tbody tr")) == 2, "both sites are listed")
        check(patient not in d.page_source and patient.replace("-", "") not in d.page_source,
              "the operator's page holds no patient data")
        shot(op, "13-operations")
        accessibility(op, "operations")
        nurse.d.get(base + "/ui/operations")
        check("403" in nurse.d.find_element(By.TAG_NAME, "h1").text, "a nurse gets 403 on the operations page")

        # --- English.
        d = nurse.d
        d.get(base + "/ui/lang?to=en")
        check(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en" and "Logged in as" in d.page_source,
              "English is available")

        # --- The nurse of Region Värmland: no results, 403 on a direct link.
        print("nurse-b: another region")
        nurse_b = Browser(work, "nurse-b", pki, "nurse-b.p12")
        browsers.append(nurse_b)
        d = nurse_b.d
        d.get(base + "/ui/search")
        d.find_element(By.ID, "patient").send_keys(patient)
        d.find_element(By.ID, "search").click()
        wait(nurse_b, lambda: d.find_elements(By.ID, "no-results"), "an empty result")
        check(True, "the other region's nurse finds nothing")
        d.get(f"{base}/ui/calls/{other}")
        check("404" in d.find_element(By.TAG_NAME, "h1").text and "Traceback" not in d.page_source,
              "a direct link to another region's call is the same 404 page as a call that does not exist")
        shot(nurse_b, "07-forbidden")
        accessibility(nurse_b, "error page")
        d.get(f"{base}/ui/calls/not-a-call")
        check("404" in d.find_element(By.TAG_NAME, "h1").text, "an unknown call is a 404 page")

        # --- The smart-card path: the investigator's key on a PKCS#11 token (SoftHSM2).
        print("investigator-a: certificate on a PKCS#11 token")
        conf = os.path.join(work, "softhsm2.conf")
        tokens = os.path.join(work, "tokens")
        os.makedirs(tokens)
        with open(conf, "w") as f:
            f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
        card = Browser(work, "investigator-a", pki, "investigator-a.p12", card=(pinpad, conf, "123456"))
        browsers.append(card)
        d = card.d
        d.get(base + "/")
        check("Cecilia Carlsson" in d.page_source and "SE2321000016-Q001" in d.page_source,
              "login with the key on the token succeeds")
        # The administrators approved her a second assignment above: she chooses it.
        before = d.find_element(By.ID, "active-assignment").text
        choices = d.find_elements(By.CSS_SELECTOR, "ul.assignments form button")
        check(len(choices) >= 1, "a person with several assignments is offered the others")
        choices[0].click()
        wait(card, lambda: d.find_element(By.ID, "active-assignment").text != before, "the switch")
        check(True, "she acts under the assignment she chose")
        d.get(base + "/ui/search")
        check(d.find_elements(By.ID, "case_number"), "an investigator is asked for a case number")
        d.find_element(By.ID, "patient").send_keys(patient)
        d.find_element(By.ID, "case_number").send_keys("Lex Maria 2026/14")
        d.find_element(By.ID, "search").click()
        links = wait(card, lambda: d.find_elements(By.CLASS_NAME, "open-call"), "the investigator's results")
        check(len(links) >= 1, "the investigator searches across the care provider")
        links[0].click()
        wait(card, lambda: d.find_elements(By.ID, "player"), "the call page")
        shot(card, "08-investigator-smart-card")
        events = api("reviewer-a", f"/api/v1/audit/events?care_provider={STHLM}&purpose=logguppfoljning&limit=50")
        check(any(e["actor"] == "person:SE2321000016-Q001" and ["case_number", "Lex Maria 2026/14"] in [list(x) for x in e["details"]]
                  for e in events), "the investigator's access is audited with the case number")

        # --- No client certificate: nothing loads.
        print("a browser without a certificate")
        anon = Browser(work, "anonymous", pki, None)
        browsers.append(anon)
        try:
            anon.d.get(base + "/")
        except Exception:
            pass
        check("Inloggad" not in anon.d.page_source and "Logged in" not in anon.d.page_source,
              "a browser without a client certificate cannot load any page")
        print("all browser tests passed")
        return 0
    except Exception as e:
        print("FAILED:", type(e).__name__, e)
        for i, b in enumerate(browsers):
            try:
                b.d.save_screenshot(os.path.join(artifacts, f"failure-{i}.png"))
                with open(os.path.join(artifacts, f"failure-{i}.html"), "w") as f:
                    f.write(b.d.page_source)
            except Exception:
                pass
        return 1
    finally:
        for b in browsers:
            try:
                b.quit()
            except Exception:
                pass
        if server:
            server.terminate()
            server.wait(timeout=30)
        if os.path.exists(POLICY_FILE):
            os.remove(POLICY_FILE)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
