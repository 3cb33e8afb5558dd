#!/usr/bin/env python3
"""Minute by minute, a group short of spot capacity, against moto (the AWS emulator the tests run),
with stand-ins for what moto lacks:

- the shortage itself: Auto Scaling's one-minute group metrics and its "EC2 Instance Launch
  Unsuccessful" events (moto launches every instance it is asked for and publishes neither);
- the CloudWatch Logs metric filter (moto 5.2.5 stores metric filters but never turns log events
  into metric data);
- CloudWatch alarm evaluation (moto stores alarms but never evaluates them) and the composite alarm
  (moto 5.2.5 answers PutCompositeAlarm with HTTP 500): each minute this script reads the metrics
  back from moto, evaluates the alarms as stored in moto, and sets their state there;
- the EventBridge target that starts an SSM Automation document, and the Automation run itself
  (moto 5.2.5 answers StartAutomationExecution with HTTP 500): the document is read back from moto
  and its steps run here, each aws:executeAwsApi step as the boto3 call Automation makes.

Everything else is moto's: the rules, their patterns and their delivery to the log group
(PutEvents, FilterLogEvents): the launch failures, and the composite alarm's state change, which
starts a run here once moto's rule has matched it and logged it (moto 5.2.5's TestEventPattern
answers nothing, and its rules deliver to no Automation target);
the group and its mixed instances policy (DescribeAutoScalingGroups, UpdateAutoScalingGroup through
the Auto Scaling stand-in), the metrics (PutMetricData, GetMetricData), the alarms (PutMetricAlarm by
the test, DescribeAlarms, SetAlarmState) and the document (CreateDocument by the test, GetDocument).

Usage: spot_fallback.py CONFIG.json. Prints the timeline as JSON: for each minute, the group's
on-demand share above the base and the alarms' states.
"""
import datetime
import json
import re
import sys

import boto3

config = json.load(open(sys.argv[1]))
session = boto3.session.Session(region_name=config["region"])
clients = {}


def client(service):
    if service not in clients:
        endpoint = config["autoscaling_endpoint"] if service == "autoscaling" else config["endpoint"]
        clients[service] = session.client(service, endpoint_url=endpoint)
    return clients[service]


GROUP = config["group"]
MINUTES = config["after_minutes"]
BASE = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0) - datetime.timedelta(hours=6)


def at(minute):
    return BASE + datetime.timedelta(minutes=minute)


def on_demand_percent():
    group = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    return group["MixedInstancesPolicy"]["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"]


def alarm_state(name):
    alarms = client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarms[0]["StateValue"]


def set_state(name, state, minute):
    if alarm_state(name) != state:
        client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"evaluated at minute {minute}")


def evaluate_short(minute):
    """The alarm on missing instances as stored in moto: its expression over its metrics, each of
    the last `evaluation_periods` minutes, every one breaching its threshold."""
    alarm = client("cloudwatch").describe_alarms(AlarmNames=[config["short_alarm"]])["MetricAlarms"][0]
    periods = alarm["EvaluationPeriods"]
    queries = [q for q in alarm["Metrics"] if "MetricStat" in q]
    expression = next(q["Expression"] for q in alarm["Metrics"] if "Expression" in q)
    data = client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": q["Id"], "MetricStat": q["MetricStat"]} for q in queries],
        StartTime=at(minute - periods + 1),
        EndTime=at(minute + 1),
    )["MetricDataResults"]
    series = {r["Id"]: dict(zip([t.replace(second=0) for t in r["Timestamps"]], r["Values"])) for r in data}
    breaching = 0
    for m in range(minute - periods + 1, minute + 1):
        values = {name: series.get(name, {}).get(at(m)) for name in series}
        if values.get("desired") is None:
            continue
        # FILL(x, 0) and plain names: the only forms the rendered expression uses.
        text = re.sub(r"FILL\((\w+), 0\)", lambda g: str(values.get(g.group(1)) or 0), expression)
        text = re.sub(r"[a-z_]+", lambda g: str(values.get(g.group(0)) or 0), text)
        if eval(text, {"__builtins__": {}}) > alarm["Threshold"]:
            breaching += 1
    return "ALARM" if breaching >= alarm["DatapointsToAlarm"] else "OK"


def evaluate_failures(minute):
    alarm = client("cloudwatch").describe_alarms(AlarmNames=[config["failures_alarm"]])["MetricAlarms"][0]
    window = alarm["Period"] // 60
    data = client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "f", "MetricStat": {"Metric": {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"], "Dimensions": alarm["Dimensions"]}, "Period": 60, "Stat": "Sum"}}],
        StartTime=at(minute - window + 1),
        EndTime=at(minute + 1),
    )["MetricDataResults"][0]["Values"]
    return "ALARM" if sum(data) >= alarm["Threshold"] else "OK"


class Run:
    """One Automation run of the document, stepping in simulated minutes."""

    def __init__(self, steps):
        self.steps, self.at, self.wake, self.outputs, self.done = steps, 0, 0, {}, False

    def value(self, v):
        if isinstance(v, str):
            return re.sub(r"\{\{ *(\w+)\.(\w+) *\}\}", lambda g: str(self.outputs[f"{g.group(1)}.{g.group(2)}"]), v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        return v

    def advance(self, minute, calls):
        while not self.done and self.wake <= minute:
            step = self.steps[self.at]
            inputs = self.value(step.get("inputs", {}))
            nxt = self.at + 1
            if step["action"] == "aws:executeAwsApi":
                params = {k: v for k, v in inputs.items() if k not in ("Service", "Api")}
                method = re.sub(r"(?<!^)(?=[A-Z])", "_", inputs["Api"]).lower()
                answer = getattr(client(inputs["Service"]), method)(**params)
                calls.append({"minute": minute, "step": step["name"], "api": inputs["Api"], "params": params})
                for out in step.get("outputs", []):
                    value = answer
                    for part in re.findall(r"[A-Za-z]+|\[\d+\]", out["Selector"].lstrip("$.")):
                        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
                    self.outputs[f"{step['name']}.{out['Name']}"] = value
            elif step["action"] == "aws:branch":
                nxt = next((self.names[c["NextStep"]] for c in inputs["Choices"] if float(c["Variable"]) == c["NumericEquals"]), self.names[inputs["Default"]])
            elif step["action"] == "aws:sleep":
                duration = re.fullmatch(r"PT(?:(\d+)M)?(?:(\d+)S)?", inputs["Duration"])
                self.wake = minute + int(duration.group(1) or 0)
            else:
                raise SystemExit(f"unexpected action {step['action']}")
            if step.get("isEnd"):
                self.done = True
            self.at = nxt
            if self.at >= len(self.steps):
                self.done = True

    @property
    def names(self):
        return {s["name"]: i for i, s in enumerate(self.steps)}


def main():
    logs, events, cloudwatch = client("logs"), client("events"), client("cloudwatch")
    document = json.loads(client("ssm").get_document(Name=config["document"])["Content"])
    runs, calls, timeline, seen, composite, alarms_seen = [], [], [], 0, "OK", []

    def logged():
        answer = logs.filter_log_events(logGroupName=config["log_group"])["events"]
        return [json.loads(e["message"]) for e in sorted(answer, key=lambda e: (e["timestamp"], e["eventId"]))]

    for minute in range(config["minutes"]):
        percent = on_demand_percent()
        spot_short = minute >= config["short_from"] and minute < config["spot_back_at"]
        missing = config["desired"] - 1 if percent == 0 and spot_short else 0
        if missing:
            detail = {"StatusCode": "Failed", "AutoScalingGroupName": GROUP, "StatusMessage": config["failure"], "Cause": "At this time a user request started"}
            events.put_events(Entries=[{"Source": "aws.autoscaling", "DetailType": "EC2 Instance Launch Unsuccessful", "Detail": json.dumps(detail)}])
        # The metric filter: each launch failure the rule delivered to the log group this minute
        # counts 1.
        failures = [e for e in logged() if e["source"] == "aws.autoscaling"]
        dimensions = [{"Name": "AutoScalingGroupName", "Value": GROUP}]
        if len(failures) > seen:
            cloudwatch.put_metric_data(Namespace=config["namespace"], MetricData=[{"MetricName": config["failures_metric"], "Dimensions": dimensions, "Value": len(failures) - seen, "Timestamp": at(minute)}])
            seen = len(failures)
        # Auto Scaling's group metrics.
        desired, in_service = config["desired"], config["desired"] - missing
        cloudwatch.put_metric_data(Namespace="AWS/AutoScaling", MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Timestamp": at(minute)}
            for name, value in [("GroupDesiredCapacity", desired), ("GroupInServiceInstances", in_service), ("GroupPendingInstances", 0), ("GroupStandbyInstances", 0)]
        ])
        set_state(config["short_alarm"], evaluate_short(minute), minute)
        set_state(config["failures_alarm"], evaluate_failures(minute), minute)
        children = [alarm_state(config["short_alarm"]), alarm_state(config["failures_alarm"])]
        now = "ALARM" if children == ["ALARM", "ALARM"] else "OK"
        started = False
        if now != composite:
            # CloudWatch's event for the composite alarm's change, to moto's rules.
            detail = {"alarmName": config["composite"], "state": {"value": now}, "previousState": {"value": composite}}
            events.put_events(Entries=[{"Source": "aws.cloudwatch", "DetailType": "CloudWatch Alarm State Change", "Resources": [config["composite_arn"]], "Detail": json.dumps(detail)}])
        # The rule's Automation target: a run for each alarm event the rule matched (and logged).
        for event in [e for e in logged() if e["source"] == "aws.cloudwatch"][len(alarms_seen):]:
            alarms_seen.append(event)
            runs.append(Run(document["mainSteps"]))
            started = True
        composite = now
        for run in runs:
            run.advance(minute, calls)
        timeline.append({"minute": minute, "percent": percent, "missing": missing, "short": children[0], "failures": children[1], "composite": now, "started": started})
    print(json.dumps({"timeline": timeline, "calls": calls}, default=str))


main()
