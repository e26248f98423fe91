"""Load against a deployed stage, for operators: `locust -f benchmarks/locustfile.py`.

Every request is billed (API Gateway, Lambda, logs, X-Ray, metrics) and counts against the
stage's throttling and the account's Lambda concurrency: start small, on a non-production
stage. Needs `pip install locust==2.47.0` (not part of the dev environment) and:

    SLEEP_ADVISOR_API_URL   the stack's ApiUrl output, e.g. https://abc123.execute-api.eu-central-1.amazonaws.com/api/
    SLEEP_ADVISOR_ID_TOKEN  a Cognito ID token (see the README, "Calling the deployed API")
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, task

NIGHT = {
    "sleep_duration_hours": 6.1, "sleep_latency_minutes": 35, "night_awakenings": 2,
    "bedtime_variability_minutes": 20, "screen_minutes_before_bed": 90,
    "caffeine_after_14h_mg": 0, "exercise_minutes": 20,
}


class MobileApp(HttpUser):
    """A user opening the app after waking up or before bed: mostly one night, sometimes a week."""

    host = os.environ["SLEEP_ADVISOR_API_URL"].rstrip("/")
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.client.headers.update({
            "Authorization": os.environ["SLEEP_ADVISOR_ID_TOKEN"],
            "Content-Type": "application/json",
        })

    def _night(self) -> dict[str, float]:
        return {**NIGHT, "sleep_duration_hours": round(random.uniform(4.5, 9.0), 1)}

    @task(8)
    def advice_for_last_night(self) -> None:
        self.client.post("/predict", data=json.dumps({"features": self._night()}), name="/predict 1 night")

    @task(1)
    def advice_for_the_week(self) -> None:
        week = [self._night() for _ in range(7)]
        self.client.post("/predict", data=json.dumps({"instances": week}), name="/predict 7 nights")

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
