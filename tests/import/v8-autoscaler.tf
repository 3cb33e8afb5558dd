# A user's 8.x module block (written for runnergen's tests): docker-autoscaler on Graviton spot
# workers, values from a locals block and from variables and other modules.
locals {
  environment = "build"
  worker_types = ["m7g.large", "m6g.large"]
}

module "vpc" {
  source = "terraform-aws-modules/vpc/aws"
  name   = "ci"
}

module "runner" {
  source  = "git::https://github.com/cattle-ops/terraform-aws-gitlab-runner.git?ref=8.1.0"

  environment = local.environment
  vpc_id      = module.vpc.vpc_id
  subnet_id   = module.vpc.private_subnets[0]

  runner_gitlab = {
    url                                           = "https://gitlab.example.com"
    runner_version                                = var.runner_version
    preregistered_runner_token_ssm_parameter_name = "/build/runner-token"
  }

  runner_instance = {
    name = "build"
    type = "t4g.small"
  }

  runner_worker = {
    type     = "docker-autoscaler"
    max_jobs = 20
  }

  runner_worker_docker_autoscaler = {
    fleeting_plugin_version = "1.0.0"
    capacity_per_instance   = 2
    max_use_count           = 1
  }

  runner_worker_docker_autoscaler_asg = {
    types                                    = local.worker_types
    subnet_ids                               = module.vpc.private_subnets
    enable_mixed_instances_policy            = true
    on_demand_base_capacity                  = 0
    on_demand_percentage_above_base_capacity = 0
  }

  runner_worker_docker_autoscaler_ami_filter = {
    name = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-*"]
  }

  runner_worker_docker_autoscaler_autoscaling_options = [
    {
      periods    = ["* * * * *"]
      idle_count = 0
      idle_time  = "10m0s"
    },
    {
      periods    = ["* 8-18 * * 1-5"]
      timezone   = "America/New_York"
      idle_count = 4
      idle_time  = "20m"
    }
  ]

  runner_worker_docker_machine_ami_id = "ami-0123456789abcdef0"

  runner_worker_docker_options = {
    privileged    = false
    pull_policies = ["always", "if-not-present"]
  }
}
