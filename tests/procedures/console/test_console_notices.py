"""The clerk sees on the console's dashboard that someone elsewhere tried wrong passwords."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from procedures.app import create_app


def test_the_dashboard_tells_the_clerk_about_failed_logins_elsewhere(settings, runtime, staff):
    username, password = staff("notice-clerk")
    app = create_app(settings, runtime=runtime, workers=False)
    with TestClient(app, client=("198.51.100.77", 5000)) as attacker:
        for i in range(6):
            attacker.post("/v1/auth/staff/token", json={"username": username, "password": f"guess {i}!!"})
    with TestClient(app, client=("203.0.113.20", 5000)) as office:
        form = office.get("/console/login?lang=en")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        login = office.post("/console/login", data={"username": username, "password": password, "csrf_token": csrf},
                            follow_redirects=False)
        assert login.status_code == 303, login.text
        dashboard = office.get("/console/")
        assert "5 failed logins to your account came from 198.51.100.77" in dashboard.text
        assert "198.51.100.77" not in office.get("/console/").text  # shown once
