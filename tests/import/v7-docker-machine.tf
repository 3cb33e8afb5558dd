# A user's 7.x module block (written for runnergen's tests): docker+machine on spot workers
# with office hours, a registration token pasted in, and an egress rule of 7.x and 8.x.
module "gitlab_runner" {
  source  = "cattle-ops/gitlab-runner/aws"
  version = "7.15.0"

  environment = "ACME Prod_CI"
  vpc_id      = "vpc-0a1b2c3d4e5f60718"
  subnet_id   = "subnet-0a1b2c3d4e5f60718"

  runner_gitlab = {
    url                = "https://gitlab.acme.example"
    runner_version     = "16.11.1"
    registration_token = "GR1348941-not-a-real-token"
  }

  runner_gitlab_registration_config = {
    tag_list     = "docker, aws ,spot"
    run_untagged = "false"
  }

  runner_instance = {
    name = "acme-prod"
    type = "t3.small"
  }

  runner_worker = {
    type     = "docker+machine"
    max_jobs = 12
  }

  runner_worker_docker_machine_instance = {
    types                    = ["m6i.large", "m5.large"]
    idle_count               = 1
    idle_time                = 1800
    destroy_after_max_builds = 10
    root_size                = 40
    subnet_ids               = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
  }

  runner_worker_docker_machine_instance_spot = {
    enable = true
  }

  runner_worker_docker_machine_autoscaling_options = [
    {
      periods    = ["* * 8-17 * * mon-fri *"]
      idle_count = 4
      idle_time  = 3600
      timezone   = "Europe/Berlin"
    },
    {
      periods    = ["* * * * * sat,sun *"]
      idle_count = 0
      idle_time  = 300
      timezone   = "Europe/Berlin"
    }
  ]

  runner_worker_docker_options = {
    image      = "alpine:3.20"
    privileged = false
    volumes    = ["/cache"]
  }

  runner_networking_egress_rules = [{
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = []
    prefix_list_ids  = []
    from_port        = 443
    to_port          = 443
    protocol         = "tcp"
    description      = "HTTPS"
  }]

  runner_cloudwatch = {
    retention_days = 30
  }

  tags = {
    team = "platform"
  }
}
