module.exports = {
  apps: [
    {
      name: 'oglab-site',
      script: 'npm',
      args: 'start',
      cwd: '/Users/0xsafa/Documents/GitHub/oglab-site',
      instances: 'max',
      exec_mode: 'cluster',
      env: {
        NODE_ENV: 'production',
        PORT: 3000,
        NODE_OPTIONS: '--no-deprecation'
      },
      env_development: {
        NODE_ENV: 'development',
        PORT: 3000,
        NODE_OPTIONS: '--no-deprecation'
      },
      env_production: {
        NODE_ENV: 'production',
        PORT: 3000,
        NODE_OPTIONS: '--no-deprecation'
      },
      // Логирование
      log_file: './logs/combined.log',
      out_file: './logs/out.log',
      error_file: './logs/error.log',
      log_date_format: 'YYYY-MM-DD HH:mm:ss Z',
      
      watch: false,
      ignore_watch: ['node_modules', 'logs', '.git'],
      
      max_restarts: 10,
      min_uptime: '10s',
      max_memory_restart: '1G',
      
      autorestart: true,
      
      kill_timeout: 5000,
      
      listen_timeout: 8000,
      wait_ready: true,
      
      node_args: '--no-deprecation'
    }
  ],
  
  deploy: {
    production: {
      user: 'deploy',
      host: ['your-server.com'],
      ref: 'origin/main',
      repo: 'git@github.com:yourusername/oglab-site.git',
      path: '/var/www/oglab-site',
      'post-deploy': 'npm install && npm run build && pm2 reload ecosystem.config.js --env production',
      'pre-setup': 'apt update && apt install git -y'
    }
  }
};
